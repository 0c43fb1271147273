package asynqadapter

// The payload of an asynq task message.
//
// asynq v0.26: a task's hash holds its message in field msg, a protocol
// buffer TaskMessage (internal/proto/asynq.pb.go:32) whose field 2
// (bytes) is the payload (asynq.pb.go:37).
//
// We change nothing: a cancel reads the payloads of the tasks it deletes
// from their messages, without asynq's internal proto package.
//
// We recognise it: field 2 is there, of the bytes wire type.
//
// Not recognised: the message is reported malformed or without a payload;
// after 10 such messages and none read, TaskMessagePayload is judged not
// applied.

import (
	"errors"

	"google.golang.org/protobuf/encoding/protowire"
)

// PayloadOfMessage returns the payload of an asynq task message: field 2
// of its protocol buffer.
func PayloadOfMessage(msg []byte) ([]byte, error) {
	p := patches[TaskMessagePayload]
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			p.missed()
			return nil, errors.New("malformed task message")
		}
		msg = msg[n:]
		if num == 2 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				p.missed()
				return nil, errors.New("malformed task message")
			}
			p.hit()
			return v, nil
		}
		if n = protowire.ConsumeFieldValue(num, typ, msg); n < 0 {
			p.missed()
			return nil, errors.New("malformed task message")
		}
		msg = msg[n:]
	}
	p.missed()
	return nil, errors.New("a task message without a payload")
}
