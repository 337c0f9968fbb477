package fs

import (
	"strings"
	"testing"

	"github.com/mailvault/mailvault/index"
)

func TestParseOwnerMap(t *testing.T) {
	m, err := ParseOwnerMap("owners", []byte(`# backed-up user  owner
alice@example.org 1001:1001
  bob@example.org	root   # an account name

* 5000:8
`))
	if err != nil {
		t.Fatal(err)
	}
	for user, want := range map[string]Owner{
		"alice@example.org": {1001, 1001},
		"bob@example.org":   {0, 0},
		"carol@example.net": {5000, 8}, // "*"
	} {
		if got, ok := m.Lookup(user); !ok || got != want {
			t.Errorf("%s: %v %v, want %v", user, got, ok, want)
		}
	}
	noDefault, err := ParseOwnerMap("owners", []byte("alice 1:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := noDefault.Lookup("bob"); ok {
		t.Error("a user the map does not name has an owner")
	}

	for _, bad := range []struct{ text, want string }{
		{"alice\n", "owners:1: want 'USER UID:GID'"},
		{"# c\nalice 1:x\n", "owners:2: \"1:x\" is not UID:GID"},
		{"alice 1:1\nalice 2:2\n", "owners:2: alice is named twice"},
		{"* 1:1\n* 2:2\n", "owners:2: * is named twice"},
		{"alice 1:1 extra\n", "owners:1: want"},
		{"alice no-such-account-here\n", `owners:1: no local account "no-such-account-here"`},
		{"alice -1:0\n", "is not UID:GID"},
	} {
		_, err := ParseOwnerMap("owners", []byte(bad.text))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: error %v, want %q", bad.text, err, bad.want)
		}
	}
}

func TestStoreOwner(t *testing.T) {
	inbox := &index.Folder{Name: "INBOX", OwnerUID: 8, OwnerGID: 12}
	other := &index.Folder{Name: "Archive", OwnerUID: 9, OwnerGID: 9}
	if got := storeOwner([]*index.Folder{other, inbox}); got != (Owner{8, 12}) {
		t.Errorf("with INBOX: %v, want INBOX's owner", got)
	}
	if got := storeOwner([]*index.Folder{other}); got != (Owner{9, 9}) {
		t.Errorf("without INBOX: %v, want the first folder's owner", got)
	}
	if got := storeOwner(nil); got != (Owner{}) {
		t.Errorf("no folders: %v, want root", got)
	}
}

// FuzzParseOwnerMap: any input is parsed or refused with its line, never
// a panic, and every name an accepted map holds has the owner written.
func FuzzParseOwnerMap(f *testing.F) {
	f.Add([]byte("alice@example.org 1001:1001\n* 8:8 # rest\n"))
	f.Add([]byte("#x\n\nbob\troot\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseOwnerMap("owners", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "owners:") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		for u, o := range m.users {
			if got, ok := m.Lookup(u); !ok || got != o {
				t.Errorf("%q: %v %v, want %v", u, got, ok, o)
			}
		}
	})
}
