// The dashboard's one door to the API: login, bearer tokens, refresh on expiry, logout.
//
// Tokens live in sessionStorage: they survive a reload of the tab and die with it. A refresh
// token works once (it rotates), so concurrent 401s share a single refresh.

const STORE = "backline.ops.tokens";
const AUTH = "/api/v1/auth";
export const OPS = "/api/v1/admin/ops";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export class Api {
  constructor(onSignedOut) {
    this.onSignedOut = onSignedOut;
    this.refreshing = null;
  }

  get tokens() {
    try {
      return JSON.parse(sessionStorage.getItem(STORE) || "null");
    } catch {
      return null;
    }
  }

  set tokens(pair) {
    if (pair) sessionStorage.setItem(STORE, JSON.stringify(pair));
    else sessionStorage.removeItem(STORE);
  }

  get signedIn() {
    return Boolean(this.tokens);
  }

  async login(email, password) {
    this.tokens = await send("POST", `${AUTH}/login`, { email, password });
  }

  async logout() {
    const pair = this.tokens;
    this.tokens = null;
    if (!pair) return;
    try {
      await send("POST", `${AUTH}/logout`, { refresh_token: pair.refresh_token }, pair.access_token);
    } catch {
      // The session may have ended already; the tokens are gone from this tab either way.
    }
  }

  get(path) {
    return this.call("GET", path);
  }

  post(path, body) {
    return this.call("POST", path, body);
  }

  async call(method, path, body) {
    const pair = this.tokens;
    if (!pair) throw this.signedOut();
    try {
      return await send(method, path, body, pair.access_token);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
    }
    await this.refresh(pair);
    const fresh = this.tokens;
    if (!fresh) throw this.signedOut();
    return send(method, path, body, fresh.access_token);
  }

  async refresh(expired) {
    if (!this.refreshing) {
      this.refreshing = (async () => {
        try {
          const current = this.tokens;
          if (current && current.access_token !== expired.access_token) return; // done already
          this.tokens = await send("POST", `${AUTH}/refresh`, {
            refresh_token: expired.refresh_token,
          });
        } catch {
          this.tokens = null;
        } finally {
          this.refreshing = null;
        }
      })();
    }
    await this.refreshing;
  }

  signedOut() {
    this.tokens = null;
    this.onSignedOut();
    return new ApiError(401, { message: "signed out" });
  }
}

async function send(method, path, body, token) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
