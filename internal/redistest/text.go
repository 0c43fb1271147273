package redistest

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Text returns every key of rdb with all it holds as plain text, for a
// test to look for what must not be there. DUMP would not do: it
// compresses long values, and a secret in one would not be seen.
func Text(ctx context.Context, rdb redis.UniversalClient) (map[string]string, error) {
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		return nil, err
	}
	text := make(map[string]string, len(keys))
	for _, k := range keys {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			return nil, err
		}
		var v any
		switch typ {
		case "string":
			v, err = rdb.Get(ctx, k).Result()
		case "hash":
			v, err = rdb.HGetAll(ctx, k).Result()
		case "list":
			v, err = rdb.LRange(ctx, k, 0, -1).Result()
		case "set":
			v, err = rdb.SMembers(ctx, k).Result()
		case "zset":
			v, err = rdb.ZRange(ctx, k, 0, -1).Result()
		case "stream":
			v, err = rdb.XRange(ctx, k, "-", "+").Result()
		case "none":
			continue // expired meanwhile
		default:
			return nil, fmt.Errorf("key %s: type %s not read", k, typ)
		}
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k, err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s %v", k, v)
		text[k] = b.String()
	}
	return text, nil
}
