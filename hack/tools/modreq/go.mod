// modreq answers build.sh's questions about go.mod files. A module of its own,
// standard library only, so build.sh can `go run` it from anywhere.
module github.com/gitover/gitover/hack/tools/modreq

go 1.26.0
