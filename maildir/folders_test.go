package maildir

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestFolderDirNames(t *testing.T) {
	for _, tc := range []struct{ dir, name string }{
		{"", "INBOX"},
		{".Archive", "Archive"},
		{".Archive.2002", "Archive/2002"},
		{".Entw&APw-rfe", "Entwürfe"},
		{".&ZeVnLIqe-.Tom &- Jerry", "日本語/Tom & Jerry"},
	} {
		got, err := DecodeFolderDir(tc.dir)
		if err != nil || got != tc.name {
			t.Errorf("DecodeFolderDir(%q) = %q, %v; want %q", tc.dir, got, err, tc.name)
		}
		if got := EncodeFolderName(tc.name); got != tc.dir {
			t.Errorf("EncodeFolderName(%q) = %q, want %q", tc.name, got, tc.dir)
		}
	}
	for _, dir := range []string{".", "..", "Archive", ".a..b", ".a.", ".&APx-", ".caf\xc3\xa9"} {
		if got, err := DecodeFolderDir(dir); err == nil {
			t.Errorf("DecodeFolderDir(%q) = %q, want error", dir, got)
		}
	}
}

// mkdirs creates each directory below root.
func mkdirs(t *testing.T, root string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// writeFile creates root/name with data, making parents as needed.
func writeFile(t *testing.T, root, name, data string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestListFolders(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, root, "cur", "new", "tmp",
		".Sent/cur", ".Archive.2002/new", ".Entw&APw-rfe/cur", ".caf\xc3\xa9/cur",
		".Archive",    // a parent without cur/ or new/
		".nomail/tmp", // likewise
		"plain/cur")   // not a dot-directory
	writeFile(t, root, ".file", "x")
	target := filepath.Join(t.TempDir(), "linked")
	mkdirs(t, target, "cur")
	if err := os.Symlink(target, filepath.Join(root, ".Linked")); err != nil {
		t.Fatal(err)
	}
	got, err := ListFolders(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []FolderDir{
		{"INBOX", ""},
		{"Archive/2002", ".Archive.2002"},
		{"Entwürfe", ".Entw&APw-rfe"},
		{"Linked", ".Linked"}, // listed so that scanning it names it
		{"Sent", ".Sent"},
		{"caf\xc3\xa9", ".caf\xc3\xa9"}, // not mUTF-7, kept under its raw name
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListFolders = %q\nwant %q", got, want)
	}
	// The symlinked folder is not followed: scanning it is a problem.
	if f, problems := ScanFolder(root, FolderDir{Name: "Linked", Dir: ".Linked"}); f != nil || len(problems) != 1 ||
		!strings.Contains(problems[0].Error(), "a symlink, which is not followed") {
		t.Errorf("ScanFolder of a symlinked folder: %v, %v", f, problems)
	}
	if _, err := ListFolders(filepath.Join(root, "missing")); err == nil {
		t.Error("ListFolders of a missing root: no error")
	}
}
