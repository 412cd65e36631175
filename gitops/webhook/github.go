package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strings"
	"sync"
)

// GitHub delivery headers.
const (
	GitHubEventHeader     = "X-GitHub-Event"
	GitHubDeliveryHeader  = "X-GitHub-Delivery"
	GitHubSignatureHeader = "X-Hub-Signature-256"
	githubSignaturePrefix = "sha256="
)

// Small, strict views of GitHub's payloads: only the fields gitover reads.
// Unknown fields are skipped; a known field of the wrong type is an error.

type ghRepository struct {
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
	SSHURL   string `json:"ssh_url"`
	HTMLURL  string `json:"html_url"`
}

type ghUser struct {
	Login string `json:"login"`
}

type ghPush struct {
	Ref        string        `json:"ref"`
	Before     string        `json:"before"`
	After      string        `json:"after"`
	Repository *ghRepository `json:"repository"`
	Sender     *ghUser       `json:"sender"`
}

type ghBranch struct {
	Ref string `json:"ref"`
	SHA string `json:"sha"`
}

type ghPull struct {
	Number         int64     `json:"number"`
	Title          string    `json:"title"`
	Body           string    `json:"body"`
	Merged         bool      `json:"merged"`
	MergeCommitSHA string    `json:"merge_commit_sha"`
	Head           *ghBranch `json:"head"`
	Base           *ghBranch `json:"base"`
}

type ghPullRequestEvent struct {
	Action      string        `json:"action"`
	Number      int64         `json:"number"`
	PullRequest *ghPull       `json:"pull_request"`
	Repository  *ghRepository `json:"repository"`
	Sender      *ghUser       `json:"sender"`
}

type ghPing struct {
	Repository *ghRepository `json:"repository"`
	Sender     *ghUser       `json:"sender"`
}

// ParseGitHub parses the body of a GitHub delivery whose X-GitHub-Event
// header is event. It handles "ping", "push" and "pull_request" with action
// "closed" (KindMerged when merged, else KindClosed); every other event or
// action yields an error wrapping ErrIgnored. A payload that is not valid
// JSON, has a field of the wrong type or lacks what the event needs yields an
// error wrapping ErrMalformed. It never panics and does not verify the
// signature (see the Handler).
func ParseGitHub(event string, body []byte) (Event, error) {
	ev := Event{Provider: ProviderGitHub}
	switch event {
	case "ping":
		var p ghPing
		if err := decodeJSON(body, &p); err != nil {
			return Event{}, err
		}
		ev.Kind = KindPing
		ev.Repository = p.Repository.identity()
		ev.Sender = p.Sender.login()
		if err := checkRepository(ev.Repository, false); err != nil {
			return Event{}, err
		}
	case "push":
		var p ghPush
		if err := decodeJSON(body, &p); err != nil {
			return Event{}, err
		}
		ev.Kind = KindPush
		ev.Repository = p.Repository.identity()
		ev.Sender = p.Sender.login()
		if err := checkRepository(ev.Repository, true); err != nil {
			return Event{}, err
		}
		if err := ev.setRef(p.Ref); err != nil {
			return Event{}, err
		}
		if err := ev.setPushSHAs(p.Before, p.After); err != nil {
			return Event{}, err
		}
	case "pull_request":
		var p ghPullRequestEvent
		if err := decodeJSON(body, &p); err != nil {
			return Event{}, err
		}
		if p.Action != "closed" {
			return Event{}, ignored("pull_request action %q", clip(p.Action))
		}
		if err := ev.fillGitHubPull(&p); err != nil {
			return Event{}, err
		}
	case "":
		return Event{}, malformed("event type is missing")
	default:
		return Event{}, ignored("event %q", clip(event))
	}
	if err := checkField("sender", ev.Sender, maxFieldBytes); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// fillGitHubPull fills a closed pull request's fields.
func (ev *Event) fillGitHubPull(p *ghPullRequestEvent) error {
	pr := p.PullRequest
	if pr == nil {
		return malformed("pull_request is missing")
	}
	ev.Kind = KindClosed
	if pr.Merged {
		ev.Kind = KindMerged
	}
	ev.Repository = p.Repository.identity()
	ev.Sender = p.Sender.login()
	if err := checkRepository(ev.Repository, true); err != nil {
		return err
	}
	ev.Number = pr.Number
	if ev.Number == 0 {
		ev.Number = p.Number
	}
	if ev.Number <= 0 {
		return malformed("pull request number is missing")
	}
	if pr.Head == nil || pr.Base == nil {
		return malformed("pull request head or base is missing")
	}
	ev.HeadBranch, ev.BaseBranch = pr.Head.Ref, pr.Base.Ref
	if err := checkBranches(ev.HeadBranch, ev.BaseBranch); err != nil {
		return err
	}
	var err error
	if ev.HeadSHA, err = normalizeSHA("head sha", pr.Head.SHA, true); err != nil {
		return err
	}
	if ev.MergeCommitSHA, err = normalizeSHA("merge_commit_sha", pr.MergeCommitSHA, false); err != nil {
		return err
	}
	if !pr.Merged {
		// Before a merge GitHub fills merge_commit_sha with a test merge
		// that never lands; do not pass it on.
		ev.MergeCommitSHA = ""
	}
	ev.setText(pr.Title, pr.Body)
	return nil
}

// identity converts the payload's repository (possibly absent) to Repository.
func (r *ghRepository) identity() Repository {
	if r == nil {
		return Repository{}
	}
	return Repository{FullName: r.FullName, CloneURL: r.CloneURL, SSHURL: r.SSHURL, WebURL: r.HTMLURL}
}

// login returns the sender's login, or "" when absent.
func (u *ghUser) login() string {
	if u == nil {
		return ""
	}
	return u.Login
}

// githubVerifier checks X-Hub-Signature-256 against an HMAC-SHA256 of the
// body keyed with the webhook secret. Its hashers are pooled.
type githubVerifier struct {
	pool sync.Pool
}

// newGitHubVerifier returns a verifier for secret (which must be non-empty).
func newGitHubVerifier(secret []byte) *githubVerifier {
	key := append([]byte(nil), secret...)
	return &githubVerifier{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

// verify returns "" when header carries a valid signature of body, otherwise
// the rejection reason. The comparison is constant-time (hmac.Equal).
func (v *githubVerifier) verify(header string, body []byte) string {
	if header == "" {
		return reasonMissingSignature
	}
	hexSig, ok := strings.CutPrefix(header, githubSignaturePrefix)
	if !ok || len(hexSig) != 2*sha256.Size {
		return reasonMalformedSignature
	}
	var want [sha256.Size]byte
	if _, err := hex.Decode(want[:], []byte(hexSig)); err != nil {
		return reasonMalformedSignature
	}
	mac := v.pool.Get().(hash.Hash)
	mac.Reset()
	mac.Write(body)
	var sum [sha256.Size]byte
	got := mac.Sum(sum[:0])
	v.pool.Put(mac)
	if !hmac.Equal(got, want[:]) {
		return reasonBadSignature
	}
	return ""
}

// SignGitHub returns the X-Hub-Signature-256 value GitHub sends for body
// under secret ("sha256=" and the hex HMAC-SHA256). For tests and tools.
func SignGitHub(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return githubSignaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// clip makes sender-controlled text fit to be quoted in a reason or a log:
// at most 64 bytes, anything but printable ASCII replaced by '?'.
func clip(s string) string {
	const limit = 64
	n := min(len(s), limit)
	b := make([]byte, n)
	for i := range n {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b[i] = c
	}
	return string(b)
}
