package git

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-logr/logr"
)

// Options configures a Client.
type Options struct {
	// CacheDir holds the bare clones (required). See docs/git.md for its layout.
	CacheDir string
	// FullHistory clones complete history instead of a depth-1 clone that
	// then deepens incrementally with every fetch.
	FullHistory bool
	// Logger receives progress (URLs without credentials, branches, SHAs,
	// attempts); the zero value discards it.
	Logger logr.Logger
}

// Client reaches remote repositories through a cache of bare clones. It is
// safe for concurrent use: operations on one repository are serialised.
type Client struct {
	dir  string
	full bool
	log  logr.Logger

	mu    sync.Mutex
	locks map[string]chan struct{}
}

// NewClient returns a Client whose clones live under opts.CacheDir.
func NewClient(opts Options) (*Client, error) {
	if opts.CacheDir == "" {
		return nil, errors.New("git client: no cache directory")
	}
	dir, err := filepath.Abs(opts.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("git client: cache directory %s: %w", opts.CacheDir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("git client: creating cache directory %s: %w", dir, err)
	}
	return &Client{dir: dir, full: opts.FullHistory, log: opts.Logger, locks: map[string]chan struct{}{}}, nil
}

// cached is one locked cache entry.
type cached struct {
	repo   *gogit.Repository
	ep     *transport.Endpoint
	url    string // redacted, for messages
	auth   transport.AuthMethod
	path   string
	unlock func()
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// CachePath returns where the clone of rawURL lives:
// CACHE/<host>[_<port>]/<path with / as _>-<12 hex of sha256(URL)>.git
func (c *Client) CachePath(rawURL string) (string, error) {
	ep, err := endpoint(rawURL)
	if err != nil {
		return "", err
	}
	host := ep.Host
	if ep.Port != 0 {
		host += "_" + strconv.Itoa(ep.Port)
	}
	if host == "" {
		host = "local"
	}
	name := strings.TrimSuffix(strings.Trim(ep.Path, "/"), ".git")
	name = unsafeChars.ReplaceAllString(strings.ReplaceAll(name, "/", "_"), "_")
	if len(name) > 80 {
		name = name[:80]
	}
	sum := sha256.Sum256([]byte(ep.Protocol + "://" + ep.User + "@" + ep.Host + ":" + strconv.Itoa(ep.Port) + "/" + ep.Path))
	return filepath.Join(c.dir, unsafeChars.ReplaceAllString(host, "_"), name+"-"+hex.EncodeToString(sum[:6])+".git"), nil
}

// open locks and opens (creating if needed) the clone of rawURL. The lock
// is an in-process semaphore plus an flock on <clone>.lock for other
// processes sharing the cache directory.
func (c *Client) open(ctx context.Context, rawURL string, auth Auth) (*cached, error) {
	ep, err := endpoint(rawURL)
	if err != nil {
		return nil, err
	}
	method, err := auth.method(ep)
	if err != nil {
		return nil, err
	}
	path, err := c.CachePath(rawURL)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	sem := c.locks[path]
	if sem == nil {
		sem = make(chan struct{}, 1)
		c.locks[path] = sem
	}
	c.mu.Unlock()
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the cache of %s: %w", redactURL(rawURL), ctx.Err())
	}
	release := func() { <-sem }
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		release()
		return nil, fmt.Errorf("creating cache directory: %w", err)
	}
	unlockFile, err := lockFile(ctx, strings.TrimSuffix(path, ".git")+".lock")
	if err != nil {
		release()
		return nil, err
	}
	unlock := func() { unlockFile(); release() }

	if n := countPacks(path); n > maxPacks {
		// Every fetch adds a pack; go-git does not repack. Past a bound,
		// starting over with a fresh shallow clone is cheaper than
		// searching ever more packs (and it drops the accumulated history).
		c.log.Info("re-cloning the cache: too many packs", "url", redactURL(rawURL), "packs", n)
		if err := os.RemoveAll(path); err != nil {
			unlock()
			return nil, fmt.Errorf("resetting the cache of %s: %w", redactURL(rawURL), err)
		}
	}
	repo, err := gogit.PlainOpen(path)
	if errors.Is(err, gogit.ErrRepositoryNotExists) {
		_ = os.RemoveAll(path) // a partial directory from an interrupted init
		repo, err = gogit.PlainInit(path, true)
		if err == nil {
			_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{ep.String()}})
		}
	}
	if err != nil {
		unlock()
		return nil, fmt.Errorf("opening the cache of %s at %s: %w", redactURL(rawURL), path, err)
	}
	return &cached{repo: repo, ep: ep, url: redactURL(rawURL), auth: method, path: path, unlock: unlock}, nil
}

// maxPacks bounds the packs a cached clone may accumulate before it is
// re-cloned (a variable so that tests can lower it).
var maxPacks = 64

func countPacks(repo string) int {
	m, _ := filepath.Glob(filepath.Join(repo, "objects", "pack", "*.pack"))
	return len(m)
}

// trackingRef is where a fetched branch is kept in the cache.
func trackingRef(branch string) plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName("origin", branch)
}

// fetch brings branch up to date in the cache and returns its head commit;
// missing is true (and the commit nil) when the remote has no such branch.
// A branch the cache has not seen yet is fetched at depth 1 (unless the
// client keeps full history); later fetches are incremental.
func (c *Client) fetch(ctx context.Context, cc *cached, branch string) (*object.Commit, bool, error) {
	ref := trackingRef(branch)
	depth := 0
	if _, err := cc.repo.Reference(ref, false); err != nil && !c.full {
		depth = 1
	}
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(branch), ref))
	start := time.Now()
	err := cc.repo.FetchContext(ctx, &gogit.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{spec},
		Depth:      depth,
		Tags:       gogit.NoTags,
		Auth:       cc.auth,
	})
	switch {
	case errors.Is(err, gogit.NoErrAlreadyUpToDate):
	case errors.Is(err, gogit.NoMatchingRefSpecError{}):
		_ = cc.repo.Storer.RemoveReference(ref)
		return nil, true, nil
	case err != nil:
		return nil, false, c.transportError(ctx, "fetching "+branch+" from", cc, err)
	}
	r, err := cc.repo.Reference(ref, true)
	if err != nil {
		return nil, false, fmt.Errorf("reading fetched %s of %s: %w", branch, cc.url, err)
	}
	commit, err := cc.repo.CommitObject(r.Hash())
	if err != nil {
		return nil, false, fmt.Errorf("reading commit %s of %s: %w", r.Hash(), cc.url, err)
	}
	c.log.V(1).Info("fetched", "url", cc.url, "branch", branch, "head", r.Hash().String(), "depth", depth, "took", time.Since(start).String())
	return commit, false, nil
}

// ErrAuthentication marks authentication and authorisation failures.
var ErrAuthentication = errors.New("authentication failed")

// transportError says what failed, without credentials, and marks auth
// failures so they read "authentication to URL failed: ...".
func (c *Client) transportError(ctx context.Context, doing string, cc *cached, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: %w", doing, cc.url, ctx.Err())
	}
	if isAuthError(err) {
		return &authError{url: cc.url, err: err}
	}
	if errors.Is(err, transport.ErrRepositoryNotFound) {
		return fmt.Errorf("%s %s: repository not found (or not visible with these credentials): %w", doing, cc.url, err)
	}
	return fmt.Errorf("%s %s: %w", doing, cc.url, err)
}

type authError struct {
	url string
	err error
}

func (e *authError) Error() string {
	return "authentication to " + e.url + " failed: " + e.err.Error()
}
func (e *authError) Unwrap() []error { return []error{ErrAuthentication, e.err} }

func isAuthError(err error) bool {
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "unable to authenticate") || strings.Contains(s, "no supported methods remain")
}

// commitOn writes files on top of parent and returns the new commit and
// the objects a push must send (everything on the edited paths that may be
// missing remotely), or a nil commit when the files already have that content.
func commitOn(cc *cached, parent *object.Commit, files map[string][]byte, msg string, author, committer Signature) (*object.Commit, []plumbing.Hash, error) {
	if _, err := checkPaths(files); err != nil {
		return nil, nil, err
	}
	if strings.TrimSpace(msg) == "" {
		return nil, nil, errors.New("empty commit message")
	}
	base, err := parent.Tree()
	if err != nil {
		return nil, nil, fmt.Errorf("reading tree of %s: %w", parent.Hash, err)
	}
	tw := &treeWriter{s: cc.repo.Storer}
	tree, err := tw.apply(base, files)
	if err != nil {
		return nil, nil, err
	}
	if tree == parent.TreeHash {
		return nil, nil, nil
	}
	now := time.Now()
	author = author.orDefault()
	if committer.Name == "" && committer.Email == "" {
		committer = author
	}
	c := &object.Commit{
		Author:       author.object(now),
		Committer:    committer.object(now),
		Message:      msg,
		TreeHash:     tree,
		ParentHashes: []plumbing.Hash{parent.Hash},
	}
	h, err := tw.commit(c)
	if err != nil {
		return nil, nil, err
	}
	commit, err := cc.repo.CommitObject(h)
	if err != nil {
		return nil, nil, err
	}
	return commit, tw.produced, nil
}

// push points the remote branch at commit, sending objects (the commit and
// the objects on its edited paths; everything else is reachable from the
// old value, so the remote has it). It is a compare-and-swap: the branch
// must still point at expect (zero: must not exist), checked against the
// ref advertisement and again, atomically, by the server, which receives
// expect as the old value. Unless force is set — only for gitover's own
// proposal branches — commit must be a child of expect (when the branch
// exists), so the update is a fast-forward by construction and nothing is
// ever overwritten.
//
// This replaces go-git's Remote.Push, which walks every object reachable
// from the remote's refs to decide what to send (most of a warm push's time
// on a large repository, and growing with the cache's history).
func (c *Client) push(ctx context.Context, cc *cached, branch string, commit *object.Commit, objects []plumbing.Hash, expect plumbing.Hash, force bool) error {
	name := plumbing.NewBranchReferenceName(branch)
	if !force && !expect.IsZero() && (len(commit.ParentHashes) != 1 || commit.ParentHashes[0] != expect) {
		return fmt.Errorf("internal error: refusing a non-fast-forward update of %s", branch)
	}
	start := time.Now()
	err := c.sendPack(ctx, cc, name, commit.Hash, objects, expect)
	if err != nil {
		if IsBranchMoved(err) && ctx.Err() == nil {
			return &movedError{branch: branch, url: cc.url, err: err}
		}
		return c.transportError(ctx, "pushing "+branch+" to", cc, err)
	}
	if err := cc.repo.Storer.SetReference(plumbing.NewHashReference(trackingRef(branch), commit.Hash)); err != nil {
		return fmt.Errorf("recording pushed %s: %w", branch, err)
	}
	c.log.V(1).Info("pushed", "url", cc.url, "branch", branch, "head", commit.Hash.String(), "objects", len(objects), "took", time.Since(start).String())
	return nil
}

// sendPack runs one receive-pack exchange: advertisement, lease check,
// update command with a pack of objects, status report.
func (c *Client) sendPack(ctx context.Context, cc *cached, name plumbing.ReferenceName, newHash plumbing.Hash, objects []plumbing.Hash, expect plumbing.Hash) (err error) {
	tr, err := client.NewClient(cc.ep)
	if err != nil {
		return err
	}
	sess, err := tr.NewReceivePackSession(cc.ep, cc.auth)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := sess.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return err
	}
	refs, err := ar.AllReferences()
	if err != nil {
		return err
	}
	cur, err := refs.Reference(name)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		if !expect.IsZero() {
			return fmt.Errorf("remote ref %s required to be %s but is absent (stale info)", name, expect)
		}
	case err != nil:
		return err
	case expect.IsZero():
		return fmt.Errorf("remote ref %s required to be absent but is %s (stale info)", name, cur.Hash())
	case cur.Hash() != expect:
		return fmt.Errorf("remote ref %s required to be %s but is %s", name, expect, cur.Hash())
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
	req.Commands = []*packp.Command{{Name: name, Old: expect, New: newHash}}
	cfg, err := cc.repo.Storer.Config()
	if err != nil {
		return err
	}
	rd, wr := io.Pipe()
	req.Packfile = rd
	done := make(chan error, 1)
	go func() {
		enc := packfile.NewEncoder(wr, cc.repo.Storer, !ar.Capabilities.Supports(capability.OFSDelta))
		_, err := enc.Encode(objects, cfg.Pack.Window)
		if err != nil {
			done <- wr.CloseWithError(err)
			return
		}
		done <- wr.Close()
	}()
	rs, err := sess.ReceivePack(ctx, req)
	if err != nil {
		_ = rd.Close()
		return err
	}
	if err := <-done; err != nil {
		return fmt.Errorf("encoding the pack: %w", err)
	}
	if rs != nil {
		return rs.Error()
	}
	return nil
}
