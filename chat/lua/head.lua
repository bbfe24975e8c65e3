-- A room's head (chat.store.Head): {exists, epoch, seq, run_id}. KEYS[1] meta, KEYS[2] seq.
return room_head(KEYS[1], KEYS[2])
