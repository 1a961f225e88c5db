package resolvers

import (
	"testing"

	"meridian/internal/apierr"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, id := range []string{"prod-0001", "精华", "a:b:c", " "} {
		got, err := decodeCursor(encodeCursor(id))
		if err != nil || got != id {
			t.Errorf("decode(encode(%q)) = %q, %v", id, got, err)
		}
	}
}

func TestForeignCursorsAreBadUserInput(t *testing.T) {
	for _, c := range []string{"", "!!!", "bm9wZQ", encodeCursor("")[:3], "djE6"} {
		if _, err := decodeCursor(c); apierr.KindOf(err) != apierr.BadUserInput {
			t.Errorf("decodeCursor(%q) error = %v, want BAD_USER_INPUT", c, err)
		}
	}
}

// FuzzDecodeCursor: any client-supplied cursor decodes to an id or is
// refused as bad input; it never panics.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor("prod-0001"))
	f.Add("not a cursor")
	f.Fuzz(func(t *testing.T, cursor string) {
		id, err := decodeCursor(cursor)
		if err != nil {
			if apierr.KindOf(err) != apierr.BadUserInput {
				t.Fatalf("error of kind %v, want BAD_USER_INPUT", apierr.KindOf(err))
			}
			return
		}
		if id == "" {
			t.Fatalf("accepted %q as an empty id", cursor)
		}
	})
}
