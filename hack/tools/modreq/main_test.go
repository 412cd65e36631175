package main

// Standard library only, like the command: build.sh runs it with `go run`
// from a module with no dependencies to download.

import (
	"bytes"
	"strings"
	"testing"
)

const goModJSON = `{
	"Module": {"Path": "example.com/tools"},
	"Require": [{"Path": "k8s.io/kubernetes", "Version": "v1.36.4"}],
	"Replace": [
		{"Old": {"Path": "k8s.io/api"}, "New": {"Path": "k8s.io/api", "Version": "v0.36.4"}},
		{"Old": {"Path": "k8s.io/client-go"}, "New": {"Path": "k8s.io/client-go", "Version": "v0.36.4"}},
		{"Old": {"Path": "k8s.io/kms"}, "New": {"Path": "./staging/src/k8s.io/kms"}},
		{"Old": {"Path": "gopkg.in/yaml.v2", "Version": "v2.2.0"}, "New": {"Path": "gopkg.in/yaml.v2", "Version": "v2.4.0"}}
	]
}`

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		in      string
		want    string
		wantErr string
	}{
		{"require", []string{"require", "k8s.io/kubernetes"}, goModJSON, "v1.36.4\n", ""},
		{"require missing", []string{"require", "nope"}, goModJSON, "", "not required"},
		{"replace", []string{"replace", "k8s.io/api"}, goModJSON, "v0.36.4\n", ""},
		{"replace missing", []string{"replace", "nope"}, goModJSON, "", "not replaced"},
		{"replace-versions", []string{"replace-versions", "k8s.io/"}, goModJSON, "v0.36.4\n", ""},
		{"staging", []string{"staging"}, goModJSON, "k8s.io/kms\n", ""},
		{"replaces", []string{"replaces"}, goModJSON,
			"k8s.io/api=k8s.io/api@v0.36.4\nk8s.io/client-go=k8s.io/client-go@v0.36.4\ngopkg.in/yaml.v2@v2.2.0=gopkg.in/yaml.v2@v2.4.0\n", ""},
		{"fields", []string{"field", "Dir", "Version"}, `{"Dir": "/m/x@v1", "Version": "v1"}`, "/m/x@v1 v1\n", ""},
		{"field missing", []string{"field", "GoMod"}, `{"Error": "boom"}`, "", "no string field"},
		{"no question", nil, "{}", "", "missing question"},
		{"unknown question", []string{"what"}, "{}", "", "unknown question"},
		{"bad JSON", []string{"require", "x"}, "{", "", "decoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(tt.args, strings.NewReader(tt.in), &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Fatalf("output = %q, want %q", out.String(), tt.want)
			}
		})
	}
}
