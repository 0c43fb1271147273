package worker

import (
	"crypto/subtle"
	"io"
	"net/http"
	"time"

	"github.com/hibiken/asynqmon"
	"go.uber.org/zap"

	"github.com/punctualhq/punctual/tasks"
)

// MonitorPath is where the asynq web UI is served on MONITOR_ADDR.
const MonitorPath = "/monitor"

// serveMonitor serves the asynq web UI on MONITOR_ADDR, behind basic auth
// when MONITOR_PASSWORD is set. Its API changes queues and tasks on POST,
// PUT, PATCH and DELETE: those are refused (403) when a browser says they
// come from another site, as a page elsewhere could otherwise have the
// operator's browser send them, credentials included. Reads, and requests
// from scripts (no Sec-Fetch-Site or Origin), go through.
func (w *Worker) serveMonitor() io.Closer {
	var h http.Handler = asynqmon.New(asynqmon.Options{
		RootPath: MonitorPath, RedisConnOpt: w.conn, PayloadFormatter: asynqmon.PayloadFormatterFunc(tasks.FormatPayload),
	})
	if w.cfg.MonitorPassword != "" {
		h = basicAuth(h, w.cfg.MonitorUser, w.cfg.MonitorPassword)
	}
	mux := http.NewServeMux()
	mux.Handle(MonitorPath+"/", h)
	mux.Handle(MonitorPath, http.RedirectHandler(MonitorPath+"/", http.StatusFound))
	srv := &http.Server{Handler: http.NewCrossOriginProtection().Handler(mux), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(w.monitor) }()
	w.log.Info("serving the monitor", zap.String("url", "http://"+w.MonitorAddr()+MonitorPath+"/"))
	return srv
}

// basicAuth lets through the requests that carry user and password.
func basicAuth(next http.Handler, user, password string) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user))&subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
			rw.Header().Set("WWW-Authenticate", `Basic realm="punctual monitor"`)
			http.Error(rw, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(rw, r)
	})
}
