package lab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki holds the paths of the lab's credentials, created once per lab
// directory and reused by every restart (kubeconfigs and Argo CD cluster
// secrets stay valid).
type pki struct {
	Dir        string
	CACert     string // CA that signs the apiservers' serving certificate
	ServerCert string // serving certificate for 127.0.0.1 and localhost
	ServerKey  string
	SAKey      string // service-account token signing key (private)
	SAPub      string // its public key
	TokenFile  string // kube-apiserver --token-auth-file
	Token      string // the admin bearer token (member of system:masters)
}

// ensurePKI creates the credentials under dir/pki unless they exist.
func ensurePKI(dir string) (*pki, error) {
	p := &pki{
		Dir:        filepath.Join(dir, "pki"),
		CACert:     filepath.Join(dir, "pki", "ca.crt"),
		ServerCert: filepath.Join(dir, "pki", "apiserver.crt"),
		ServerKey:  filepath.Join(dir, "pki", "apiserver.key"),
		SAKey:      filepath.Join(dir, "pki", "sa.key"),
		SAPub:      filepath.Join(dir, "pki", "sa.pub"),
		TokenFile:  filepath.Join(dir, "pki", "tokens.csv"),
	}
	tokenPath := filepath.Join(p.Dir, "admin.token")
	if tok, err := os.ReadFile(tokenPath); err == nil && allExist(p.CACert, p.ServerCert, p.ServerKey, p.SAKey, p.SAPub, p.TokenFile) {
		p.Token = string(tok)
		return p, nil
	}
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", p.Dir, err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the lab CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gitover-lab-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("signing the lab CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parsing the lab CA: %w", err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the apiserver key: %w", err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("signing the apiserver certificate: %w", err)
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the service-account key: %w", err)
	}
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		return nil, fmt.Errorf("generating the admin token: %w", err)
	}
	p.Token = hex.EncodeToString(tok)

	if err := writePEM(p.CACert, "CERTIFICATE", caDER, 0o644); err != nil {
		return nil, err
	}
	if err := writePEM(p.ServerCert, "CERTIFICATE", srvDER, 0o644); err != nil {
		return nil, err
	}
	if err := writeECKey(p.ServerKey, srvKey); err != nil {
		return nil, err
	}
	if err := writeECKey(p.SAKey, saKey); err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encoding the service-account public key: %w", err)
	}
	if err := writePEM(p.SAPub, "PUBLIC KEY", pubDER, 0o644); err != nil {
		return nil, err
	}
	// token,user,uid,"group1,group2"
	csv := fmt.Sprintf("%s,lab-admin,lab-admin,\"system:masters\"\n", p.Token)
	if err := os.WriteFile(p.TokenFile, []byte(csv), 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", p.TokenFile, err)
	}
	if err := os.WriteFile(tokenPath, []byte(p.Token), 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", tokenPath, err)
	}
	return p, nil
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func writeECKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("encoding key for %s: %w", path, err)
	}
	return writePEM(path, "EC PRIVATE KEY", der, 0o600)
}

func allExist(paths ...string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			return false
		}
	}
	return true
}
