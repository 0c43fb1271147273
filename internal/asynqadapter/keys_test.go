package asynqadapter

import "testing"

func TestQueueSlotIsTheSlotRedisClusterGivesTheHashTag(t *testing.T) {
	t.Parallel()
	// Figures of CLUSTER KEYSLOT, and the CRC16 check value of "123456789".
	for key, slot := range map[string]int{"foo": 12182, "bar": 5061, "123456789": 0x31c3, "": 0} {
		if got := QueueSlot(key); got != slot {
			t.Errorf("QueueSlot(%q) = %d, want %d", key, got, slot)
		}
	}
}
