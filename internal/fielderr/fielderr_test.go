package fielderr

import (
	"errors"
	"fmt"
	"testing"
)

func TestAllCollectsJoinedAndWrappedErrors(t *testing.T) {
	sentinel := errors.New("store: invalid input")
	a := New("store", sentinel, "mobile", "must be a mainland mobile number")
	b := New("store", sentinel, "addresses[1].postalCode", "must be 6 digits")
	err := fmt.Errorf("update: %w", errors.Join(a, errors.New("unrelated"), b))
	got := All(err)
	if len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("All = %v, want [%v %v]", got, a, b)
	}
	if !errors.Is(a, sentinel) {
		t.Error("an Error does not unwrap to its sentinel")
	}
	if a.Error() != "store: mobile: must be a mainland mobile number" {
		t.Errorf("Error() = %q", a.Error())
	}
	if All(nil) != nil || All(errors.New("x")) != nil {
		t.Error("All found field errors where there are none")
	}
}
