package maildir

import "testing"

func TestMUTF7(t *testing.T) {
	for _, tc := range []struct{ enc, dec string }{
		{"", ""},
		{"INBOX", "INBOX"},
		{"&-", "&"},
		{"&APw-", "ü"},
		{"Entw&APw-rfe", "Entwürfe"},
		{"&ZeVnLIqe-", "日本語"},
		{"Tom &- Jerry", "Tom & Jerry"},
		{"&2D3eAA-", "😀"},
		{"&AAk-", "\t"},
		{"&APwA5A-", "üä"},
	} {
		if got := EncodeMUTF7(tc.dec); got != tc.enc {
			t.Errorf("EncodeMUTF7(%q) = %q, want %q", tc.dec, got, tc.enc)
		}
		got, err := DecodeMUTF7(tc.enc)
		if err != nil || got != tc.dec {
			t.Errorf("DecodeMUTF7(%q) = %q, %v; want %q", tc.enc, got, err, tc.dec)
		}
	}
}

func TestDecodeMUTF7Invalid(t *testing.T) {
	for _, s := range []string{
		"&",           // unterminated
		"&APw",        // no "-"
		"&AGE-",       // encodes "a"
		"&APx-",       // stray bits
		"&APw-&AOQ-",  // two runs back to back
		"&A-",         // too short for a UTF-16 unit
		"&2D0-",       // lone high surrogate
		"&3gA-",       // lone low surrogate
		"&AP/-",       // "/" is not modified base64
		"caf\xc3\xa9", // raw UTF-8
		"a\tb",        // control character
	} {
		if got, err := DecodeMUTF7(s); err == nil {
			t.Errorf("DecodeMUTF7(%q) = %q, want error", s, got)
		}
	}
}
