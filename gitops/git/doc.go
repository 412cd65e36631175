// Package git is gitover's Git layer, built on go-git (imported here as
// gogit; callers that also need go-git should do the same):
//
//   - Local: a work tree on disk for `gitover failover --repo DIR` — the
//     branch and HEAD, a fast clean-tree check, the work tree as an fs.FS,
//     and an all-or-nothing commit of a set of files.
//   - Client: remote repositories through a cache of bare clones — Apply
//     commits a re-plannable change to a branch and survives push races by
//     fetching and re-planning; PushBranch publishes the same change on a
//     proposal branch for a pull/merge request.
//   - Auth: HTTPS basic/token and SSH key credentials with known_hosts
//     verification, from a Kubernetes Secret's data or CLI flags.
//   - Trailers/ParseTrailers: the Gitover-* commit trailers by which the
//     controller recognises its own commits.
//
// docs/git.md describes the cache layout, the auth configuration and the
// push-race behaviour.
package git
