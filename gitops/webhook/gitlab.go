package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
)

// GitLab delivery headers.
const (
	GitLabEventHeader       = "X-Gitlab-Event"
	GitLabTokenHeader       = "X-Gitlab-Token"
	GitLabEventUUIDHeader   = "X-Gitlab-Event-UUID"
	GitLabIdempotencyHeader = "Idempotency-Key"
)

// X-Gitlab-Event values gitover handles. A "System Hook" carries the kind in
// object_kind instead.
const (
	gitlabPushHook         = "Push Hook"
	gitlabTagPushHook      = "Tag Push Hook"
	gitlabMergeRequestHook = "Merge Request Hook"
	gitlabSystemHook       = "System Hook"
)

// Small, strict views of GitLab's payloads: only the fields gitover reads.

type glProject struct {
	PathWithNamespace string `json:"path_with_namespace"`
	GitHTTPURL        string `json:"git_http_url"`
	GitSSHURL         string `json:"git_ssh_url"`
	WebURL            string `json:"web_url"`
}

type glUser struct {
	Username string `json:"username"`
}

type glCommit struct {
	ID string `json:"id"`
}

type glMergeRequest struct {
	IID            int64     `json:"iid"`
	Title          string    `json:"title"`
	Description    string    `json:"description"`
	SourceBranch   string    `json:"source_branch"`
	TargetBranch   string    `json:"target_branch"`
	MergeCommitSHA string    `json:"merge_commit_sha"`
	Action         string    `json:"action"`
	LastCommit     *glCommit `json:"last_commit"`
}

// glPayload is the union of the push, tag push and merge request payloads:
// one decoding pass whatever the kind.
type glPayload struct {
	ObjectKind string `json:"object_kind"`

	// push, tag_push
	Ref          string `json:"ref"`
	Before       string `json:"before"`
	After        string `json:"after"`
	UserUsername string `json:"user_username"`

	// merge_request
	User             *glUser         `json:"user"`
	ObjectAttributes *glMergeRequest `json:"object_attributes"`

	Project *glProject `json:"project"`
}

// ParseGitLab parses the body of a GitLab delivery whose X-Gitlab-Event
// header is event. It handles "Push Hook" and "Tag Push Hook" (KindPush) and
// "Merge Request Hook" with object_attributes.action "merge" (KindMerged) or
// "close" (KindClosed), and "System Hook" deliveries of those kinds (by
// object_kind). Other events and actions yield an error wrapping ErrIgnored;
// invalid or incomplete payloads, and an object_kind that contradicts the
// header, an error wrapping ErrMalformed. It never panics and does not check
// the token (see the Handler).
func ParseGitLab(event string, body []byte) (Event, error) {
	var want string
	switch event {
	case gitlabPushHook:
		want = "push"
	case gitlabTagPushHook:
		want = "tag_push"
	case gitlabMergeRequestHook:
		want = "merge_request"
	case gitlabSystemHook:
		// Decided by object_kind below.
	case "":
		return Event{}, malformed("event type is missing")
	default:
		return Event{}, ignored("event %q", clip(event))
	}
	var p glPayload
	if err := decodeJSON(body, &p); err != nil {
		return Event{}, err
	}
	kind := p.ObjectKind
	switch {
	case want == "":
		if kind != "push" && kind != "tag_push" && kind != "merge_request" {
			return Event{}, ignored("system hook object_kind %q", clip(kind))
		}
	case kind == "":
		kind = want
	case kind != want:
		return Event{}, malformed("object_kind %q does not match the event header", clip(kind))
	}

	ev := Event{Provider: ProviderGitLab, Repository: p.Project.identity()}
	if err := checkRepository(ev.Repository, true); err != nil {
		return Event{}, err
	}
	if kind == "merge_request" {
		if err := ev.fillGitLabMergeRequest(&p); err != nil {
			return Event{}, err
		}
	} else {
		ev.Kind = KindPush
		ev.Sender = p.UserUsername
		if err := ev.setRef(p.Ref); err != nil {
			return Event{}, err
		}
		if err := ev.setPushSHAs(p.Before, p.After); err != nil {
			return Event{}, err
		}
	}
	if err := checkField("sender", ev.Sender, maxFieldBytes); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// fillGitLabMergeRequest fills a merged or closed merge request's fields.
func (ev *Event) fillGitLabMergeRequest(p *glPayload) error {
	mr := p.ObjectAttributes
	if mr == nil {
		return malformed("object_attributes is missing")
	}
	switch mr.Action {
	case "merge":
		ev.Kind = KindMerged
	case "close":
		ev.Kind = KindClosed
	default:
		return ignored("merge request action %q", clip(mr.Action))
	}
	if p.User != nil {
		ev.Sender = p.User.Username
	}
	if mr.IID <= 0 {
		return malformed("merge request iid is missing")
	}
	ev.Number = mr.IID
	ev.HeadBranch, ev.BaseBranch = mr.SourceBranch, mr.TargetBranch
	if err := checkBranches(ev.HeadBranch, ev.BaseBranch); err != nil {
		return err
	}
	var err error
	if mr.LastCommit != nil {
		if ev.HeadSHA, err = normalizeSHA("last_commit.id", mr.LastCommit.ID, false); err != nil {
			return err
		}
	}
	if ev.MergeCommitSHA, err = normalizeSHA("merge_commit_sha", mr.MergeCommitSHA, false); err != nil {
		return err
	}
	ev.setText(mr.Title, mr.Description)
	return nil
}

// identity converts the payload's project (possibly absent) to Repository.
func (p *glProject) identity() Repository {
	if p == nil {
		return Repository{}
	}
	return Repository{FullName: p.PathWithNamespace, CloneURL: p.GitHTTPURL, SSHURL: p.GitSSHURL, WebURL: p.WebURL}
}

// gitlabVerifier compares X-Gitlab-Token with the configured token in
// constant time. Both sides are hashed first so that the comparison is of
// equal-length digests and leaks neither the token's content nor its length.
type gitlabVerifier struct {
	digest [sha256.Size]byte
}

// newGitLabVerifier returns a verifier for token (which must be non-empty).
func newGitLabVerifier(token []byte) *gitlabVerifier {
	return &gitlabVerifier{digest: sha256.Sum256(token)}
}

// verify returns "" when header equals the token, else the rejection reason.
func (v *gitlabVerifier) verify(header string) string {
	if header == "" {
		return reasonMissingToken
	}
	got := sha256.Sum256([]byte(header))
	if subtle.ConstantTimeCompare(got[:], v.digest[:]) != 1 {
		return reasonBadToken
	}
	return ""
}
