package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/punctualhq/punctual/credentials"
	"github.com/punctualhq/punctual/providers/builtin"
	"github.com/punctualhq/punctual/sandbox"
)

func TestAccountsShowsKindAndStateNeverASecret(t *testing.T) {
	url := useRedis(t)
	sb := sandbox.New(sandbox.Config{OAuth: &sandbox.OAuth{ClientID: "app", ClientSecret: "app-secret-9"}})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "accounts.json")
	content := `{"accounts":[
		{"name":"default","provider":"mateo","token":"mateo-secret-1"},
		{"name":"store","provider":"leadconnector","location_id":"loc1","refresh_token":"` + sb.Issue(sandbox.UserLocation, "loc1") + `"},
		{"name":"gone","provider":"leadconnector","location_id":"loc2","refresh_token":"` + sb.Issue(sandbox.UserLocation, "loc2") + `"}]}`
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	m, err := credentials.New(credentials.Config{Providers: builtin.Registry().Names(), File: file, ClientID: "app", ClientSecret: "app-secret-9",
		Keys: strings.Repeat("ab", 32), BaseURL: srv.URL, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Token(t.Context(), "leadconnector", "store"); err != nil {
		t.Fatal(err)
	}
	sb.Revoke("loc2")
	if _, err := m.Token(t.Context(), "leadconnector", "gone"); err == nil {
		t.Fatal("a revoked account gave a token")
	}

	code, out, errOut := cli(t, "", "accounts")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := regexp.MustCompile(`^PROVIDER +ACCOUNT +KIND +STATE +TOKEN EXPIRES +SENDS WAITING +REASON
leadconnector +gone +oauth +reauth_needed +- +0 +400 Invalid grant: refresh token is invalid
leadconnector +store +oauth +ok +20\d\d-\d\d-\d\dT[\d:]+Z +0 +-
mateo +default +token +ok +- +0 +-
$`)
	if !want.MatchString(out) {
		t.Errorf("output:\n%s", out)
	}
	for _, secret := range append(sb.Tokens(), "mateo-secret-1", "app-secret-9") {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("the output shows a secret")
		}
	}
}
