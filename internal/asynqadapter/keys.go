package asynqadapter

// asynq's key layout, for the scripts of punctual that read or delete
// asynq's tasks (state's cancel) and for this package's recognition of
// asynq's calls.
//
// asynq v0.26: internal/base/base.go:106-160. A queue's keys begin with
// asynq:{queue}: (QueueKeyPrefix, the braces its Cluster hash tag); a
// task is the hash asynq:{queue}:t:id (TaskKey) with fields state and msg
// (its protocol buffer), and its id is in the list asynq:{queue}:pending
// when pending, else in the sorted set named by its state (scheduled,
// retry, archived, completed, aggregating: asynq:{queue}:<state>).
//
// We change nothing: punctual builds these keys, here only.
//
// We recognise it: asynq's dequeue (dequeues) passes the task key prefix
// as its second argument, which must be QueueKeyPrefix of the queue of its
// pending key followed by "t:".
//
// Not recognised: after 100 script calls of asynq and no dequeue with that
// argument, KeyLayout is judged not applied: a cancel would find no task
// where it looks, and leave queued tasks to be sent.

import "strings"

// ServersKey is asynq's sorted set of its servers' keys, scored by when
// each server's last heartbeat expires (internal/base/base.go:36, AllServers); a key is
// asynq:servers:{host:pid:server id}.
const ServersKey = "asynq:servers"

// QueueKeyPrefix returns the prefix of queue's keys: asynq:{queue}:.
func QueueKeyPrefix(queue string) string { return "asynq:{" + queue + "}:" }

// TaskKey returns the key of the hash of task id in queue.
func TaskKey(queue, id string) string { return QueueKeyPrefix(queue) + "t:" + id }

// LuaTaskKey returns Lua for the key of a task: prefix (QueueKeyPrefix)
// and id are Lua expressions.
func LuaTaskKey(prefix, id string) string { return prefix + ` .. "t:" .. ` + id }

// LuaStateAndMessage returns Lua for the task's state and message, a table
// of two (nil when not set), from key, a Lua expression of its TaskKey.
func LuaStateAndMessage(key string) string {
	return `redis.call("HMGET", ` + key + `, "state", "msg")`
}

// LuaDeleteTask returns Lua that deletes a task that is not active: its id
// from the list or sorted set of its state, and its hash. prefix
// (QueueKeyPrefix), state, id and key (TaskKey) are Lua expressions.
func LuaDeleteTask(prefix, state, id, key string) string {
	return `if ` + state + ` == "pending" then
			redis.call("LREM", ` + prefix + ` .. "pending", 0, ` + id + `)
		else
			redis.call("ZREM", ` + prefix + ` .. ` + state + `, ` + id + `)
		end
		redis.call("DEL", ` + key + `)`
}

// checkLayout recognises the key layout in a dequeue's task key prefix,
// args[1]; any other script call is a chance missed.
func checkLayout(dequeue bool, keys []string, args []any) {
	p := patches[KeyLayout]
	if !dequeue || len(args) < 2 {
		p.missed()
		return
	}
	queue := strings.TrimSuffix(strings.TrimPrefix(keys[0], "asynq:{"), "}:pending")
	if prefix, _ := args[1].(string); prefix == QueueKeyPrefix(queue)+"t:" {
		p.hit()
		return
	}
	p.missed()
}

func isQueueKey(key, name string) bool {
	return strings.HasPrefix(key, "asynq:{") && strings.HasSuffix(key, "}:"+name)
}

// isTaskKey reports whether key is an asynq task's: asynq:{queue}:t:id.
func isTaskKey(key string) bool {
	return strings.HasPrefix(key, "asynq:{") && strings.Contains(key, "}:t:")
}

// taskIDOf returns the id of the task of key, a task key.
func taskIDOf(key string) string {
	_, id, _ := strings.Cut(key, "}:t:")
	return id
}

// AllQueuesKey is asynq's set of the names of every queue a task was ever
// enqueued into (internal/base/base.go:39, AllQueues): asynq adds a queue
// on its first enqueue and removes it only when the queue is deleted.
const AllQueuesKey = "asynq:queues"

// Slots is the number of hash slots of a Redis Cluster.
const Slots = 16384

// QueueSlot returns the Cluster hash slot of every key of queue: asynq's
// hash tag is the queue's whole name, so a queue lives on one master.
func QueueSlot(queue string) int { return int(crc16(queue)) % Slots }

// crc16 is the CRC16 (XMODEM) a Redis Cluster hashes keys with.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
