// What both MSE players (hls-live.js, segment-player.js) do to a SourceBuffer: fetch a
// segment's bytes, append them, remove a range, each waiting until the buffer is idle
// (a SourceBuffer refuses a second operation while one is running).

export async function fetchBytes(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.arrayBuffer();
}

function whenIdle(sb) {
  return sb.updating ? new Promise((r) => sb.addEventListener("updateend", r, { once: true })) : Promise.resolve();
}

export async function append(sb, data) {
  await whenIdle(sb);
  sb.appendBuffer(data);
  await whenIdle(sb);
}

export async function remove(sb, from, to) {
  if (to <= from) return;
  await whenIdle(sb);
  sb.remove(from, to);
  await whenIdle(sb);
}
