package groups

import (
	"strings"
	"testing"
)

func TestMatchFirstLineWins(t *testing.T) {
	s, err := Parse([]byte(`
# staff first, then everyone at example.net
staff = (alice|bob)@example\.org
net=.*@example\.net

students=.*@example\.org
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ user, want string }{
		{"alice@example.org", "staff"},
		{"bob@example.org", "staff"},
		{"carol@example.org", "students"},
		{"alice@example.net", "net"},
		{"xalice@example.org", "students"}, // the regex must match the whole id
		{"alice@example.org.evil", Default},
		{"nobody@elsewhere", Default},
	} {
		if got := s.Match(c.user); got != c.want {
			t.Errorf("Match(%q) = %q, want %q", c.user, got, c.want)
		}
	}
}

func TestEmptySetIsDefault(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if g := s.Match("anyone@example.org"); g != Default {
		t.Fatalf("got %q", g)
	}
}

func TestParseErrorsNameLine(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"a=x\nbroken\n", "line 2"},
		{"a=x\n\n# c\nb=(unclosed\n", "line 4"},
		{"=x\n", "line 1"},
		{"a=\n", "line 1"},
		{"a/b=x\n", "line 1"},
		{"a=x\na=y\n", "line 2: group \"a\" already defined on line 1"},
		{"ok=x\n" + "long=" + strings.Repeat("a", maxLine) + "\n", "line 2"},
	} {
		_, err := Parse([]byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", c.text, err, c.want)
		}
	}
}

func TestCatastrophicRegexIsLinear(t *testing.T) {
	s, err := Parse([]byte("evil=(a+)+$\n"))
	if err != nil {
		t.Fatal(err)
	}
	// With a backtracking engine this input takes ages; RE2 answers at once.
	if g := s.Match(strings.Repeat("a", 100000) + "!"); g != Default {
		t.Fatalf("got %q", g)
	}
}

func TestParseScope(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Scope
		err  bool
	}{
		{"", Scope{}, false},
		{"/", Scope{}, false},
		{"/staff", Scope{Group: "staff"}, false},
		{"/staff/", Scope{Group: "staff"}, false},
		{"/staff/alice@example.org", Scope{Group: "staff", User: "alice@example.org"}, false},
		{"staff", Scope{}, true},
		{"/a/b/c", Scope{}, true},
		{"//x", Scope{}, true},
		{"/../x", Scope{}, true},
	} {
		got, err := ParseScope(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseScope(%q) = %+v, %v", c.in, got, err)
		}
		if err == nil && c.in != "" && c.in != "/staff/" && got.String() != c.in {
			t.Errorf("String() = %q, want %q", got.String(), c.in)
		}
	}
	sc := Scope{Group: "staff"}
	if !sc.Contains("staff", "x") || sc.Contains("user", "x") {
		t.Error("Contains")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("a=.*@x\n# c\n\nb=(x|y)\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		for _, r := range s.Rules {
			if ValidName(r.Name) != nil {
				t.Fatalf("accepted bad name %q", r.Name)
			}
		}
		_ = s.Match("alice@example.org")
	})
}
