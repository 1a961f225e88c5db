package locale

import (
	"context"
	"testing"
)

func TestContext(t *testing.T) {
	tw := mustParse(t, "zh-TW")
	tests := []struct {
		name string
		ctx  context.Context
		want Locale
	}{
		{"unset", context.Background(), Default()},
		{"set", WithLocale(context.Background(), tw), tw},
		{"innermost wins", WithLocale(WithLocale(context.Background(), tw), mustParse(t, "ja")), mustParse(t, "ja")},
		{"foreign key with same underlying type ignored", context.WithValue(context.Background(), struct{}{}, tw), Default()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromContext(tt.ctx); got != tt.want {
				t.Errorf("FromContext() = %s, want %s", got, tt.want)
			}
		})
	}
}
