// Command modreq reads `go mod edit -json` (or `go mod download -json`) output
// on stdin and prints the answer to one question for hack/tools/build.sh:
//
//	modreq require MODULE            version MODULE is required at
//	modreq replace MODULE            version MODULE is replaced with
//	modreq replace-versions PREFIX   distinct replacement versions of modules under PREFIX
//	modreq staging                   modules replaced with ./staging/... paths
//	modreq replaces                  module replacements as OLD=NEW@VERSION lines
//	modreq field NAME...             top-level string fields, space-separated (go mod download -json)
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type module struct {
	Path    string
	Version string
}

type goMod struct {
	Require []module
	Replace []struct {
		Old module
		New module
	}
}

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "modreq:", err)
		os.Exit(1)
	}
}

func run(args []string, in io.Reader, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("missing question")
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	if args[0] == "field" {
		if len(args) < 2 {
			return fmt.Errorf("usage: field NAME...")
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("decoding JSON: %w", err)
		}
		vals := make([]string, 0, len(args)-1)
		for _, name := range args[1:] {
			s, ok := m[name].(string)
			if !ok {
				return fmt.Errorf("no string field %q in %s", name, strings.TrimSpace(string(data)))
			}
			vals = append(vals, s)
		}
		fmt.Fprintln(out, strings.Join(vals, " "))
		return nil
	}
	var gm goMod
	if err := json.Unmarshal(data, &gm); err != nil {
		return fmt.Errorf("decoding go mod edit -json output: %w", err)
	}
	arg := ""
	if len(args) > 1 {
		arg = args[1]
	}
	switch args[0] {
	case "require":
		for _, r := range gm.Require {
			if r.Path == arg {
				fmt.Fprintln(out, r.Version)
				return nil
			}
		}
		return fmt.Errorf("%s is not required", arg)
	case "replace":
		for _, r := range gm.Replace {
			if r.Old.Path == arg {
				fmt.Fprintln(out, r.New.Version)
				return nil
			}
		}
		return fmt.Errorf("%s is not replaced", arg)
	case "replace-versions":
		seen := map[string]bool{}
		for _, r := range gm.Replace {
			if strings.HasPrefix(r.Old.Path, arg) && r.New.Version != "" {
				seen[r.New.Version] = true
			}
		}
		vs := make([]string, 0, len(seen))
		for v := range seen {
			vs = append(vs, v)
		}
		sort.Strings(vs)
		fmt.Fprintln(out, strings.Join(vs, " "))
	case "staging":
		for _, r := range gm.Replace {
			if strings.HasPrefix(r.New.Path, "./staging/") {
				fmt.Fprintln(out, r.Old.Path)
			}
		}
	case "replaces":
		for _, r := range gm.Replace {
			if r.New.Version == "" {
				continue // a local directory: meaningless outside its repository
			}
			old := r.Old.Path
			if r.Old.Version != "" {
				old += "@" + r.Old.Version
			}
			fmt.Fprintf(out, "%s=%s@%s\n", old, r.New.Path, r.New.Version)
		}
	default:
		return fmt.Errorf("unknown question %q", args[0])
	}
	return nil
}
