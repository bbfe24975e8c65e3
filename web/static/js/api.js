// The HTTP API with the host's Bearer token (web/api.py, web/show_api.py).

export class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = (error && error.code) || "http_" + status;
    this.error = error || { code: this.code, message: this.message };
  }
}

/** fetch `path` with the token; resolves with the parsed JSON (or the Response for `raw`). */
export async function api(path, { token, method = "GET", body, raw = false } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (_) {
    throw new ApiError(0, { code: "disconnected", message: "network error" });
  }
  if (!res.ok) {
    let error = null;
    try {
      error = (await res.json()).error;
    } catch (_) {
      // not JSON
    }
    throw new ApiError(res.status, error);
  }
  return raw ? res : res.json();
}

/** Save a Blob as a file (an <a download> on an object URL). */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
