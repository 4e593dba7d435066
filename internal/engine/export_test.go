package engine

import "context"

// NewRedis is NewRedisClient over a client of its own (NewClient), which
// Close closes: the tests' way to make an engine of a URL.
func NewRedis(ctx context.Context, rc RedisConfig) (*Redis, error) {
	rdb, err := NewClient(rc)
	if err != nil {
		return nil, err
	}
	r, err := openRedis(ctx, rdb, rc.withDefaults())
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return r, nil
}
