package overlays

import (
	"errors"
	"fmt"
	"strconv"
)

// Error classes; every error the engine returns wraps exactly one, so callers
// can tell bad input from a broken repository from a bug.
var (
	// ErrMissing: a file, object, overlay or field the plan names is not there.
	ErrMissing = errors.New("missing")
	// ErrMalformed: a file is not valid YAML or an object has the wrong shape.
	ErrMalformed = errors.New("malformed")
	// ErrInconsistent: the repository does not say which single site is active.
	ErrInconsistent = errors.New("inconsistent repository")
	// ErrUnsupported: a construct the engine refuses to edit in place.
	ErrUnsupported = errors.New("unsupported")
	// ErrRender: kustomize could not render an overlay.
	ErrRender = errors.New("kustomize render failed")
	// ErrInvalidRequest: unknown site, invalid plan, or the like.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrInternal: an edit did not verify; a bug, never a user error.
	ErrInternal = errors.New("internal error")
)

// FileError is an error about one repository file, optionally one object
// in it and the line it starts on.
type FileError struct {
	File   string
	Line   int
	Object string // Kind/name, when the error concerns one object
	Class  error  // one of the Err* classes
	Msg    string
}

func (e *FileError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Object != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Object, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Unwrap exposes the error class to errors.Is.
func (e *FileError) Unwrap() error { return e.Class }

// fileErr builds a FileError.
func fileErr(class error, file string, line int, object, format string, args ...any) error {
	return &FileError{File: file, Line: line, Object: object, Class: class, Msg: fmt.Sprintf(format, args...)}
}

// classed wraps a message with an error class and no file.
type classed struct {
	class error
	msg   string
}

func (e *classed) Error() string { return e.msg }
func (e *classed) Unwrap() error { return e.class }

// newErr builds an error of a class that concerns no single file.
func newErr(class error, format string, args ...any) error {
	return &classed{class: class, msg: fmt.Sprintf(format, args...)}
}
