// Package webhook receives GitHub and GitLab webhooks so that gitover
// notices at once when a failover pull/merge request is merged or a branch
// moves.
//
// The Handler verifies each delivery (GitHub X-Hub-Signature-256 HMAC-SHA256,
// GitLab X-Gitlab-Token, both compared in constant time), bounds the body
// before reading it, parses only the fields gitover needs into an Event with
// small strict types, drops redeliveries by delivery id and hands the Event to
// a Queue without blocking. ParseGitHub and ParseGitLab are pure functions so
// that fuzz targets reach them directly. Serve runs the receiver as an HTTP
// server configured by Options (the --webhook-* flags).
//
// See docs/webhooks.md for configuring the webhooks on GitHub and GitLab.
package webhook
