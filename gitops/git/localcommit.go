package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrNoChanges: every file already has the requested content.
var ErrNoChanges = errors.New("the files already have this content; nothing to commit")

// commitFault, when set by a test, is called at each stage of Commit; an
// error it returns fails the commit at that point.
var commitFault func(stage string) error

func fault(stage string) error {
	if commitFault != nil {
		return commitFault(stage)
	}
	return nil
}

// Commit writes files (repository-relative slash paths; directories are
// created as needed), stages exactly those paths and commits them on the
// current branch with msg, author as author and committer. It returns the
// new commit's SHA, or ErrNoChanges when nothing would change.
//
// The commit is HEAD's tree plus files, whatever else is staged; other
// index entries stay as they were. It is all-or-nothing: when any step
// fails, the files, the index, the branch and the object store are put back
// byte for byte. Like git, it takes .git/index.lock and the branch's
// .lock file, so it fails cleanly when another git process holds them, and
// it moves the branch only if it still points where HEAD pointed when the
// commit began.
func (l *Local) Commit(ctx context.Context, files map[string][]byte, msg string, author Signature) (sha string, err error) {
	paths, err := checkPaths(files)
	if err != nil {
		return "", fmt.Errorf("committing to %s: %w", l.root, err)
	}
	if strings.TrimSpace(msg) == "" {
		return "", fmt.Errorf("committing to %s: empty commit message", l.root)
	}
	ref, head, err := l.headCommit()
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	tx := &localTx{l: l}
	defer func() {
		if err == nil {
			return
		}
		if rbErr := tx.rollback(); rbErr != nil {
			err = fmt.Errorf("%w (restoring the repository also failed: %v)", err, rbErr)
		}
		err = fmt.Errorf("committing to %s: %w", l.root, err)
	}()

	for _, p := range paths {
		if err := tx.snapshot(p); err != nil {
			return "", err
		}
	}

	// Objects first: unreferenced until the branch moves, removed on failure.
	if err := tx.snapshotObjectDirs(); err != nil {
		return "", err
	}
	tx.tw = &treeWriter{s: l.repo.Storer}
	base, err := head.Tree()
	if err != nil {
		return "", fmt.Errorf("reading HEAD's tree: %w", err)
	}
	treeHash, err := tx.tw.apply(base, files)
	if err != nil {
		return "", err
	}
	if treeHash == head.TreeHash {
		return "", ErrNoChanges
	}
	now := time.Now()
	sig := author.orDefault().object(now)
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: treeHash, ParentHashes: []plumbing.Hash{head.Hash}}
	newHash, err := tx.tw.commit(c)
	if err != nil {
		return "", err
	}
	if err := fault("objects"); err != nil {
		return "", err
	}

	if err := tx.lockIndex(); err != nil {
		return "", err
	}
	for _, p := range paths {
		if err := tx.write(p, files[p]); err != nil {
			return "", err
		}
		if err := fault("file"); err != nil {
			return "", err
		}
	}
	if err := tx.stage(base, paths, files); err != nil {
		return "", err
	}
	if err := fault("index"); err != nil {
		return "", err
	}
	if err := tx.moveBranch(ref.Name(), head.Hash, newHash); err != nil {
		return "", err
	}
	if err := fault("ref"); err != nil {
		return "", err
	}
	if err := tx.commitIndex(); err != nil {
		return "", err
	}
	l.appendReflog(ref.Name(), head.Hash, newHash, sig, msg)
	return newHash.String(), nil
}

// localTx records what a Commit changed so that rollback can undo it.
type localTx struct {
	l     *Local
	files []*fileSnap
	tw    *treeWriter

	objectDirs map[string]bool // objects/xx directories that existed before

	indexPath  string
	indexLock  string
	indexOld   []byte // nil: there was no index
	indexPerm  fs.FileMode
	lockHeld   bool
	indexMoved bool

	refPath   string
	refLock   string
	refOld    []byte // the loose ref file's bytes; nil: none (packed or new)
	refMoved  bool
	refLocked bool
	refDirs   []string
}

// fileSnap is one work-tree file's state before the commit.
type fileSnap struct {
	path    string
	abs     string
	existed bool
	content []byte
	perm    fs.FileMode
	newDirs []string // directories the write creates, outermost first
	touched bool
}

// snapshot records p's current state and refuses paths the commit must not
// write: directories, symbolic links, and anything below a link or a file.
func (tx *localTx) snapshot(p string) error {
	s := &fileSnap{path: p, abs: filepath.Join(tx.l.root, filepath.FromSlash(p)), perm: 0o644}
	parts := strings.Split(p, "/")
	dir := tx.l.root
	for i, part := range parts[:len(parts)-1] {
		dir = filepath.Join(dir, part)
		fi, err := os.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			s.newDirs = append(s.newDirs, dir)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if len(s.newDirs) > 0 {
			continue
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s: %s is a symbolic link; gitover does not write through links", p, strings.Join(parts[:i+1], "/"))
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s: %s is a file, not a directory", p, strings.Join(parts[:i+1], "/"))
		}
	}
	fi, err := os.Lstat(s.abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("%s: %w", p, err)
	case fi.IsDir():
		return fmt.Errorf("%s: is a directory", p)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s: is not a regular file", p)
	default:
		b, err := os.ReadFile(s.abs)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		s.existed, s.content, s.perm = true, b, fi.Mode().Perm()
	}
	tx.files = append(tx.files, s)
	return nil
}

// write replaces p's content atomically (temporary file + rename).
func (tx *localTx) write(p string, content []byte) error {
	var s *fileSnap
	for _, f := range tx.files {
		if f.path == p {
			s = f
		}
	}
	s.touched = true
	if err := os.MkdirAll(filepath.Dir(s.abs), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := writeAtomic(s.abs, content, s.perm); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// writeAtomic writes path via a temporary file in the same directory.
func writeAtomic(path string, content []byte, perm fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".gitover-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(content)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// snapshotObjectDirs remembers which loose-object fan-out directories exist.
func (tx *localTx) snapshotObjectDirs() error {
	tx.objectDirs = map[string]bool{}
	entries, err := os.ReadDir(filepath.Join(tx.l.commonDir, "objects"))
	if err != nil {
		return fmt.Errorf("reading the object store: %w", err)
	}
	for _, e := range entries {
		tx.objectDirs[e.Name()] = true
	}
	return nil
}

// lockIndex takes .git/index.lock and remembers the current index bytes.
func (tx *localTx) lockIndex() error {
	tx.indexPath = filepath.Join(tx.l.gitDir, "index")
	tx.indexLock = tx.indexPath + ".lock"
	f, err := os.OpenFile(tx.indexLock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: another git process seems to be running in this repository", tx.indexLock)
	}
	if err != nil {
		return fmt.Errorf("locking the index: %w", err)
	}
	tx.lockHeld = true
	_ = f.Close()
	tx.indexPerm = 0o644
	if fi, err := os.Stat(tx.indexPath); err == nil {
		tx.indexPerm = fi.Mode().Perm()
		if tx.indexOld, err = os.ReadFile(tx.indexPath); err != nil {
			return fmt.Errorf("reading the index: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading the index: %w", err)
	}
	return nil
}

// stage updates the index entries of paths and writes the new index into
// the lock file (commitIndex puts it in place).
func (tx *localTx) stage(base *object.Tree, paths []string, files map[string][]byte) error {
	idx := &index.Index{Version: 2}
	if tx.indexOld != nil {
		if err := index.NewDecoder(bytes.NewReader(tx.indexOld)).Decode(idx); err != nil {
			return fmt.Errorf("reading the index: %w", err)
		}
	}
	for _, p := range paths {
		mode := filemode.Regular
		if e, err := base.FindEntry(p); err == nil && e.Mode == filemode.Executable {
			mode = filemode.Executable
		}
		fi, err := os.Lstat(filepath.Join(tx.l.root, filepath.FromSlash(p)))
		if err != nil {
			return fmt.Errorf("staging %s: %w", p, err)
		}
		e, err := idx.Entry(p)
		if err != nil {
			e = idx.Add(p)
		}
		*e = index.Entry{
			Name:       p,
			Hash:       plumbing.ComputeHash(plumbing.BlobObject, files[p]),
			Mode:       mode,
			Size:       uint32(fi.Size()),
			ModifiedAt: fi.ModTime(),
		}
		fillStat(e, fi)
	}
	var buf bytes.Buffer
	if err := index.NewEncoder(&buf).Encode(idx); err != nil {
		return fmt.Errorf("encoding the index: %w", err)
	}
	if err := os.WriteFile(tx.indexLock, buf.Bytes(), tx.indexPerm); err != nil {
		return fmt.Errorf("writing the index: %w", err)
	}
	return nil
}

// commitIndex renames index.lock over the index.
func (tx *localTx) commitIndex() error {
	if err := os.Rename(tx.indexLock, tx.indexPath); err != nil {
		return fmt.Errorf("writing the index: %w", err)
	}
	tx.lockHeld, tx.indexMoved = false, true
	return nil
}

// moveBranch points name at newHash if it still points at old, taking the
// ref's lock file as git does.
func (tx *localTx) moveBranch(name plumbing.ReferenceName, old, newHash plumbing.Hash) error {
	tx.refPath = filepath.Join(tx.l.commonDir, filepath.FromSlash(name.String()))
	tx.refLock = tx.refPath + ".lock"
	for d := filepath.Dir(tx.refPath); d != tx.l.commonDir; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		tx.refDirs = append(tx.refDirs, d)
	}
	if err := os.MkdirAll(filepath.Dir(tx.refPath), 0o755); err != nil {
		return fmt.Errorf("updating %s: %w", name.Short(), err)
	}
	f, err := os.OpenFile(tx.refLock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: another git process is updating %s", tx.refLock, name.Short())
	}
	if err != nil {
		return fmt.Errorf("locking %s: %w", name.Short(), err)
	}
	tx.refLocked = true
	_, werr := fmt.Fprintf(f, "%s\n", newHash)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("updating %s: %w", name.Short(), werr)
	}
	cur, err := tx.l.repo.Storer.Reference(name)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name.Short(), err)
	}
	if cur.Hash() != old {
		return fmt.Errorf("branch %s moved from %s to %s while committing", name.Short(), old, cur.Hash())
	}
	if b, err := os.ReadFile(tx.refPath); err == nil {
		tx.refOld = b
	}
	if err := os.Rename(tx.refLock, tx.refPath); err != nil {
		return fmt.Errorf("updating %s: %w", name.Short(), err)
	}
	tx.refLocked, tx.refMoved = false, true
	return nil
}

// rollback undoes whatever the commit did, newest first.
func (tx *localTx) rollback() error {
	var errs []error
	if tx.refMoved {
		if tx.refOld != nil {
			errs = append(errs, writeAtomic(tx.refPath, tx.refOld, 0o644))
		} else {
			errs = append(errs, os.Remove(tx.refPath))
		}
	}
	if tx.refLocked {
		errs = append(errs, removeIfExists(tx.refLock))
	}
	for i := len(tx.refDirs) - 1; i >= 0; i-- {
		_ = os.Remove(tx.refDirs[i]) // only if empty
	}
	if tx.indexMoved {
		if tx.indexOld != nil {
			errs = append(errs, writeAtomic(tx.indexPath, tx.indexOld, tx.indexPerm))
		} else {
			errs = append(errs, os.Remove(tx.indexPath))
		}
	}
	if tx.lockHeld {
		errs = append(errs, removeIfExists(tx.indexLock))
	}
	var dirs []string
	for i := len(tx.files) - 1; i >= 0; i-- {
		s := tx.files[i]
		if !s.touched {
			continue
		}
		if s.existed {
			errs = append(errs, writeAtomic(s.abs, s.content, s.perm))
		} else {
			errs = append(errs, removeIfExists(s.abs))
		}
		dirs = append(dirs, s.newDirs...)
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if tx.tw != nil {
		objects := filepath.Join(tx.l.commonDir, "objects")
		for _, h := range tx.tw.written {
			hex := h.String()
			errs = append(errs, removeIfExists(filepath.Join(objects, hex[:2], hex[2:])))
			if !tx.objectDirs[hex[:2]] {
				_ = os.Remove(filepath.Join(objects, hex[:2])) // only if empty
			}
		}
	}
	return errors.Join(errs...)
}

func removeIfExists(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// appendReflog records the commit in the branch's and HEAD's reflogs, as
// git does when logs/ exists. Failure here is harmless and ignored.
func (l *Local) appendReflog(name plumbing.ReferenceName, old, newHash plumbing.Hash, sig object.Signature, msg string) {
	logs := filepath.Join(l.gitDir, "logs")
	if _, err := os.Stat(logs); err != nil {
		return
	}
	subject, _, _ := strings.Cut(strings.TrimSpace(msg), "\n")
	line := fmt.Sprintf("%s %s %s <%s> %d %s\tcommit: %s\n", old, newHash, sig.Name, sig.Email,
		sig.When.Unix(), sig.When.Format("-0700"), subject)
	for _, p := range []string{
		filepath.Join(l.commonDir, "logs", filepath.FromSlash(name.String())),
		filepath.Join(logs, "HEAD"),
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			continue
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			continue
		}
		_, _ = f.WriteString(line)
		_ = f.Close()
	}
}
