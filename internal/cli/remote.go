package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/spf13/cobra"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/gitops/commitmsg"
	"github.com/gitover/gitover/gitops/forge"
	"github.com/gitover/gitover/gitops/git"
	"github.com/gitover/gitover/overlays"
)

// remoteOptions are the flags that land a change on a remote repository.
type remoteOptions struct {
	push         bool
	pullRequest  bool
	wait         bool
	waitTimeout  time.Duration
	pollInterval time.Duration
	branch       string
	cacheDir     string
	git          git.Flags
	forgeType    string
	forgeAPIURL  string
	forgeRepo    string
	forgeToken   string
}

func (o *remoteOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.push, "push", false, "push the commit to the repository's origin (with --repo DIR); implied by --repo URL")
	f.BoolVar(&o.pullRequest, "pull-request", false, "open (or adopt) a pull/merge request instead of pushing to the branch")
	f.BoolVar(&o.wait, "wait", false, "with --pull-request: wait until the request is merged (exit 1 if it is closed unmerged)")
	f.DurationVar(&o.waitTimeout, "wait-timeout", 24*time.Hour, "how long --wait waits")
	f.DurationVar(&o.pollInterval, "poll-interval", 15*time.Second, "how often --wait reads the request")
	f.StringVar(&o.branch, "branch", "", "target branch (default: the plans' spec.git.branch, else main)")
	f.StringVar(&o.cacheDir, "git-cache", defaultGitCache(), "where clones of remote repositories are cached")
	f.StringVar(&o.forgeType, "forge", "", "github or gitlab (default: the plans' spec.git.provider.type)")
	f.StringVar(&o.forgeAPIURL, "forge-api-url", "", "forge API base for GitHub Enterprise / self-managed GitLab (default: the plans' spec.git.provider.apiURL)")
	f.StringVar(&o.forgeRepo, "forge-repository", "", "owner/name (GitHub) or project path (GitLab) (default: from the repository URL)")
	f.StringVar(&o.forgeToken, "forge-token-file", "", "file holding the forge API token (default: $GITOVER_FORGE_TOKEN)")
	o.git.AddFlags(f)
}

// remote reports whether the change must leave the local machine.
func (o *remoteOptions) remote(repo string) bool {
	return o.push || o.pullRequest || isRepoURL(repo)
}

func defaultGitCache() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "gitover", "git")
	}
	return filepath.Join(os.TempDir(), "gitover-git")
}

// isRepoURL tells a remote repository URL from a local directory.
func isRepoURL(s string) bool {
	if strings.Contains(s, "://") {
		return true
	}
	// scp-like user@host:path, but not a Windows-style or relative path.
	at, colon := strings.Index(s, "@"), strings.Index(s, ":")
	return at > 0 && colon > at && !strings.Contains(s[:colon], "/")
}

// target resolves the remote URL and branch of a change.
func (o *remoteOptions) target(repo string, plans []*v1alpha1.DRPlan) (url, branch string, err error) {
	branch = o.branch
	for _, p := range plans {
		b := p.Spec.Git.EffectiveBranch()
		if branch == "" {
			branch = b
		} else if o.branch == "" && b != branch {
			return "", "", fmt.Errorf("the plans name different branches (%s, %s); pass --branch", branch, b)
		}
	}
	if isRepoURL(repo) {
		return repo, branch, nil
	}
	r, err := gogit.PlainOpen(repo)
	if err != nil {
		return "", "", fmt.Errorf("repository %s: %w", repo, err)
	}
	origin, err := r.Remote("origin")
	if err != nil || len(origin.Config().URLs) == 0 {
		return "", "", fmt.Errorf("repository %s has no remote named origin to push to", repo)
	}
	head, err := r.Head()
	if err == nil && o.branch == "" && head.Name().IsBranch() {
		branch = head.Name().Short()
	}
	return origin.Config().URLs[0], branch, nil
}

// forgeProvider builds the pull-request API client from flags and plans.
func (o *remoteOptions) forgeProvider(url string, plans []*v1alpha1.DRPlan) (forge.Provider, error) {
	spec := v1alpha1.GitProvider{Type: o.forgeType, APIURL: o.forgeAPIURL, Repository: o.forgeRepo}
	for _, p := range plans {
		pp := p.Spec.Git.Provider
		if pp == nil {
			continue
		}
		if spec.Type == "" {
			spec.Type = pp.Type
		}
		if spec.APIURL == "" {
			spec.APIURL = pp.APIURL
		}
		if spec.Repository == "" {
			spec.Repository = pp.Repository
		}
	}
	if spec.Type == "" {
		return nil, errors.New("--pull-request needs a forge: pass --forge github|gitlab or set spec.git.provider in the plan")
	}
	token := os.Getenv("GITOVER_FORGE_TOKEN")
	if o.forgeToken != "" {
		b, err := os.ReadFile(o.forgeToken)
		if err != nil {
			return nil, fmt.Errorf("reading --forge-token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return nil, errors.New("--pull-request needs a forge API token: --forge-token-file FILE or $GITOVER_FORGE_TOKEN")
	}
	return forge.New(spec, url, token, nil)
}

// runRemote plans the change on the remote branch's head and lands it:
// pushed to the branch (re-planned after a push race), or proposed as a
// pull/merge request.
func runRemote(ctx context.Context, s Streams, ro repoOptions, co commitOptions, rem remoteOptions, req overlays.Request) error {
	author, err := co.signature()
	if err != nil {
		return err
	}
	plans, err := loadPlans(ro)
	if err != nil {
		return err
	}
	if !isRepoURL(ro.repo) {
		local, err := git.OpenLocal(ro.repo)
		if err != nil {
			return err
		}
		if err := local.EnsureClean(ctx); err != nil {
			return fmt.Errorf("%w; commit or stash your changes first", err)
		}
	}
	url, branch, err := rem.target(ro.repo, plans)
	if err != nil {
		return err
	}
	auth, err := rem.git.Auth(url)
	if err != nil {
		return err
	}
	client, err := git.NewClient(git.Options{CacheDir: rem.cacheDir})
	if err != nil {
		return err
	}
	cache, save := ro.cacheFor(url)
	defer save()

	var last *overlays.Change
	replan := func(ctx context.Context, tree fs.FS, head string) (map[string][]byte, string, error) {
		change, err := overlays.Plan(ctx, tree, plans, req, overlays.WithRenderCache(cache))
		if err != nil {
			return nil, "", err
		}
		last = change
		if change.Empty() || co.dryRun {
			return nil, "", nil
		}
		return change.Files, commitmsg.Message(change, co.message), nil
	}
	gr := git.Request{URL: url, Branch: branch, Auth: auth, Author: author, Replan: replan}

	if !rem.pullRequest {
		res, err := client.Apply(ctx, gr)
		if err != nil {
			return err
		}
		if done, err := reportPlanned(s, ro, co, req, last); done || err != nil {
			return err
		}
		fmt.Fprintf(s.Out, "\npushed to %s %s after %d attempt(s): %s\n%s\n", url, branch, res.Attempts, commitmsg.Subject(last), res.Head)
		if !isRepoURL(ro.repo) {
			fmt.Fprintf(s.Out, "(the local branch is now behind; git pull to update %s)\n", ro.repo)
		}
		return nil
	}

	provider, err := rem.forgeProvider(url, plans)
	if err != nil {
		return err
	}
	base, err := client.Head(ctx, url, branch, auth)
	if err != nil {
		return err
	}
	var names []string
	for _, p := range plans {
		names = append(names, p.Name)
	}
	head := forge.BranchName(names, commitmsg.Action(req.Action), req.Target, base)
	gr.Base = base
	res, err := client.PushBranch(ctx, gr, head)
	if err != nil {
		return err
	}
	if done, err := reportPlanned(s, ro, co, req, last); done || err != nil {
		return err
	}
	st, created, err := provider.Ensure(ctx, forge.Proposal{
		Base: branch, Head: head, Title: forge.Title(last),
		Body: forge.RenderBody(last, forge.BodyInfo{BaseBranch: branch, BaseSHA: base, Requester: "gitover CLI"}),
	})
	if err != nil {
		return fmt.Errorf("pushed %s, but opening the %s request failed: %w", head, provider.Name(), err)
	}
	verb := "opened"
	if !created {
		verb = "found the existing"
	}
	fmt.Fprintf(s.Out, "\n%s %s request #%d from %s (branch %s):\n%s\n", verb, provider.Name(), st.Number, head, strings.ToLower(string(res.State)), st.URL)
	if !rem.wait {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, rem.waitTimeout)
	defer cancel()
	fmt.Fprintf(s.Out, "waiting for #%d to be merged (polling every %s)...\n", st.Number, rem.pollInterval)
	final, err := forge.NewTracker(provider, forge.TrackerOptions{PollInterval: rem.pollInterval}).Wait(wctx, st)
	switch {
	case err != nil:
		return fmt.Errorf("waiting for %s: %w", st.URL, err)
	case final.State == forge.StateMerged:
		fmt.Fprintf(s.Out, "merged as %s\n", final.MergeCommit)
		return nil
	}
	return fmt.Errorf("%s was closed without being merged; nothing changed", st.URL)
}

// reportPlanned prints the planned change; done is true when there is
// nothing to land (already active, or a dry run).
func reportPlanned(s Streams, ro repoOptions, co commitOptions, req overlays.Request, change *overlays.Change) (done bool, err error) {
	if change == nil {
		return true, errors.New("internal error: no change was planned")
	}
	if ro.output == "json" {
		return true, writeJSON(s.Out, change, "")
	}
	writeReport(s.Out, change)
	switch {
	case change.Empty() && req.Action == v1alpha1.ActionProtect:
		fmt.Fprintln(s.Out, "disk protection is already in place; nothing to push")
	case change.Empty():
		fmt.Fprintf(s.Out, "already active on %s; nothing to push\n", req.Target)
	case co.dryRun:
		fmt.Fprintf(s.Out, "\ndry run: nothing pushed\n\n%s", change.Diff())
	default:
		return false, nil
	}
	return true, nil
}
