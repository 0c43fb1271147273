// Package redisurl reads the Redis URLs the project's binaries and its
// producer take.
package redisurl

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
)

// Parse reads redis://[user:password@]host:port/db or rediss://
// (TLS). Its errors never repeat the URL, which may hold a password.
func Parse(raw string) (asynq.RedisClientOpt, error) {
	var opt asynq.RedisClientOpt
	u, err := url.Parse(raw)
	if err != nil {
		return opt, errors.New("not a URL of the form redis://[user:password@]host:port/db")
	}
	switch u.Scheme {
	case "redis":
	case "rediss":
		opt.TLSConfig = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	default:
		return opt, fmt.Errorf("scheme %q: use redis:// or rediss://", u.Scheme)
	}
	if u.Hostname() == "" {
		return opt, errors.New("no host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return opt, errors.New("query options are not supported (a ? or # in the password must be percent-encoded)")
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	opt.Addr = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			// Not quoted: a password with an unescaped / ends up here.
			return opt, errors.New("the database (the path after host:port) is not a whole number")
		}
		opt.DB = n
	}
	return opt, nil
}
