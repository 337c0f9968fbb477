package groups

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailvault/mailvault/internal/figures"
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

// TestHostileGroupsFiles: expressions that would compile into huge
// automata, and files too large to be a groups file, are refused quickly
// with the line number, before anything is compiled.
func TestHostileGroupsFiles(t *testing.T) {
	tried, held := 0, 0
	defer func() {
		figures.Record(t, figures.Row{Suite: "hostile", What: "hostile groups files refused with the line", Tried: tried, Held: held,
			Note: "regex blow-ups, long lines, 1 MiB+ files"})
	}()
	for _, tc := range []struct {
		name, file, want string
	}{
		{"nested repetition", "ok=a\nbomb=(a{1000}){1000}\n", "line 2: bad regular expression"},
		{"repeat count", "bomb=a{1001}\n", "line 1: bad regular expression"},
		{"long repeated alternation", "x=y\n\nbomb=" + strings.Repeat("(a|b){999}", 400)[:4000] + "\n", "line 3: the regular expression for group \"bomb\" is too large"},
		{"repeated classes", "bomb=" + strings.Repeat("[a-z]{1000}", 360) + "\n", "line 1: the regular expression for group \"bomb\" is too large"},
		{"line too long", "bomb=" + strings.Repeat("a", 5000) + "\n", "line 1: bufio.Scanner: token too long"},
		{"many large lines", manyLines(400, "[a-z]{900}"), "too large together"},
		{"file too large", manyLines(40000, "(alice|bob)@example\\.org"), "more than 1048576 bytes"},
		{"NUL in a name", "a\x00=b\n", "line 1:"},
	} {
		tried++
		start := time.Now()
		_, err := Parse([]byte(tc.file))
		d := time.Since(start)
		switch {
		case err == nil || !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: Parse: %v, want %q", tc.name, err, tc.want)
		case d > 2*time.Second:
			t.Errorf("%s: took %v", tc.name, d)
		default:
			held++
		}
	}
	// A large file of sane lines is fine, and matching stays quick.
	s, err := Parse([]byte(manyLines(5000, "u[0-9]+@example\\.org")))
	if err != nil {
		t.Fatal(err)
	}
	if g := s.Match("nobody@example.net"); g != Default {
		t.Errorf("Match = %q", g)
	}
}

func manyLines(n int, expr string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "g%d=%s\n", i, expr)
	}
	return b.String()
}
