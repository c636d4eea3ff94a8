package httpapi

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTextPrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		data      []byte
		limit     int
		want      string
		truncated bool
	}{
		{"short", []byte("hello"), 8, "hello", false},
		{"exact", []byte("12345678"), 8, "12345678", false},
		{"cut", []byte("123456789"), 8, "12345678", true},
		{"cut before a split rune", []byte("1234567é"), 8, "1234567", true},
		{"invalid bytes replaced", []byte{'a', 0xff, 'b'}, 8, "a\uFFFDb", false},
		{"replacement grows past the limit", []byte{'a', 'b', 'c', 'd', 'e', 'f', 0xff, 'g'}, 8, "abcdef", true},
		{"empty", nil, 8, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, truncated := textPrefix(tc.data, tc.limit)
			if got != tc.want || truncated != tc.truncated {
				t.Fatalf("textPrefix(%q, %d) = %q, %v; want %q, %v", tc.data, tc.limit, got, truncated, tc.want, tc.truncated)
			}
		})
	}
}

func FuzzTextPrefix(f *testing.F) {
	f.Add([]byte("héllo\xff\xfe"), 4)
	f.Add([]byte(strings.Repeat("é", 10)), 5)
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		if limit < 0 || limit > 1<<16 {
			return
		}
		got, _ := textPrefix(data, limit)
		if len(got) > limit || !utf8.ValidString(got) {
			t.Fatalf("textPrefix(%q, %d) = %q", data, limit, got)
		}
	})
}
