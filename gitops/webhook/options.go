package webhook

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
)

// Environment variables that may hold the secrets instead of files.
const (
	EnvGitHubSecret = "GITOVER_WEBHOOK_GITHUB_SECRET"
	EnvGitLabToken  = "GITOVER_WEBHOOK_GITLAB_TOKEN"
)

// DefaultBindAddress is where the receiver listens unless told otherwise.
const DefaultBindAddress = ":8090"

// DisabledBindAddress turns the receiver off (controller-runtime's convention).
const DisabledBindAddress = "0"

// maxBodyBytesLimit is the largest accepted --webhook-max-body-bytes: GitHub
// caps payloads at 25 MB.
const maxBodyBytesLimit = 32 << 20

// Options are the command-line settings of the webhook receiver.
type Options struct {
	// BindAddress is the listen address; DisabledBindAddress ("0") disables
	// the receiver.
	BindAddress string
	// GitHubSecretFile holds the GitHub webhook secret (else EnvGitHubSecret).
	GitHubSecretFile string
	// GitLabTokenFile holds the GitLab secret token (else EnvGitLabToken).
	GitLabTokenFile string
	// InsecureAllowUnsigned accepts unauthenticated deliveries for providers
	// without a secret.
	InsecureAllowUnsigned bool
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	// DedupSize and DedupTTL tune delivery de-duplication (no flags).
	DedupSize int
	DedupTTL  time.Duration
	// Registerer receives the metrics; nil means prometheus.DefaultRegisterer.
	// The controller manager should pass controller-runtime's metrics.Registry.
	Registerer prometheus.Registerer
}

// NewOptions returns Options with the defaults.
func NewOptions() *Options {
	return &Options{BindAddress: DefaultBindAddress, MaxBodyBytes: DefaultMaxBodyBytes}
}

// AddFlags registers the --webhook-* flags on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.BindAddress, "webhook-bind-address", o.BindAddress,
		`Address the GitHub/GitLab webhook receiver listens on; "0" disables it.`)
	fs.StringVar(&o.GitHubSecretFile, "webhook-github-secret-file", o.GitHubSecretFile,
		"File holding the GitHub webhook secret (alternatively set "+EnvGitHubSecret+").")
	fs.StringVar(&o.GitLabTokenFile, "webhook-gitlab-token-file", o.GitLabTokenFile,
		"File holding the GitLab webhook secret token (alternatively set "+EnvGitLabToken+").")
	fs.BoolVar(&o.InsecureAllowUnsigned, "webhook-insecure-allow-unsigned", o.InsecureAllowUnsigned,
		"INSECURE: accept unauthenticated webhook deliveries for providers without a secret (tests and labs only).")
	fs.Int64Var(&o.MaxBodyBytes, "webhook-max-body-bytes", o.MaxBodyBytes,
		"Largest webhook request body accepted, in bytes; larger requests get 413.")
}

// Enabled reports whether the receiver should run.
func (o *Options) Enabled() bool { return o.BindAddress != DisabledBindAddress }

// Validate checks the options and that the secrets can be loaded. A disabled
// receiver needs no secret.
func (o *Options) Validate() error {
	if !o.Enabled() {
		return nil
	}
	var errs []error
	if _, _, err := net.SplitHostPort(o.BindAddress); err != nil {
		errs = append(errs, fmt.Errorf("--webhook-bind-address %q: %w", o.BindAddress, err))
	}
	if o.MaxBodyBytes < 1<<10 || o.MaxBodyBytes > maxBodyBytesLimit {
		errs = append(errs, fmt.Errorf("--webhook-max-body-bytes must be between 1024 and %d, got %d", maxBodyBytesLimit, o.MaxBodyBytes))
	}
	if o.DedupSize < 0 || o.DedupTTL < 0 {
		errs = append(errs, errors.New("webhook de-duplication size and TTL must not be negative"))
	}
	if _, err := o.Config(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Config loads the secrets and returns the Handler configuration. It fails
// with ErrNoSecret when no secret is configured and the insecure flag is not
// given.
func (o *Options) Config() (Config, error) {
	gh, err := loadSecret("--webhook-github-secret-file", o.GitHubSecretFile, EnvGitHubSecret)
	if err != nil {
		return Config{}, err
	}
	gl, err := loadSecret("--webhook-gitlab-token-file", o.GitLabTokenFile, EnvGitLabToken)
	if err != nil {
		return Config{}, err
	}
	if len(gh) == 0 && len(gl) == 0 && !o.InsecureAllowUnsigned {
		return Config{}, ErrNoSecret
	}
	return Config{
		GitHubSecret:  gh,
		GitLabToken:   gl,
		AllowUnsigned: o.InsecureAllowUnsigned,
		MaxBodyBytes:  o.MaxBodyBytes,
		DedupSize:     o.DedupSize,
		DedupTTL:      o.DedupTTL,
	}, nil
}

// loadSecret reads a secret from file, or from the environment variable env
// when no file is given; setting both is an error. Trailing line breaks (as
// left by `echo` or editors in Secret files) are removed; an empty secret is
// an error. No secret text ever appears in the errors.
func loadSecret(flag, file, env string) ([]byte, error) {
	val, inEnv := os.LookupEnv(env)
	inEnv = inEnv && val != ""
	switch {
	case file != "" && inEnv:
		return nil, fmt.Errorf("set either %s or %s, not both", flag, env)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", flag, err)
		}
		b = []byte(strings.TrimRight(string(b), "\r\n"))
		if len(b) == 0 {
			return nil, fmt.Errorf("%s: file %s is empty", flag, file)
		}
		return b, nil
	case inEnv:
		b := []byte(strings.TrimRight(val, "\r\n"))
		if len(b) == 0 {
			return nil, fmt.Errorf("%s is empty", env)
		}
		return b, nil
	}
	return nil, nil
}
