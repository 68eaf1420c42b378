/**
 * Who may use the web app: jobs belong to the client that made them, a token guards a server that
 * other computers can reach, the Host allow-list holds on every bind, and slow or numerous
 * connections cannot lock other clients out. The real server over HTTP on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { isPasticheError } from "../src/errors.js";
import { buildServer } from "../src/server/Server.js";
import {
  Client,
  HAVE_WEIGHTS,
  NO_WEIGHTS_REASON,
  gradientPng,
  isEnd,
  jobForm,
  json,
  postJob,
  readEvents,
  startServer,
  texturePng,
  type Running,
} from "./helpers/serverClient.js";

const TINY = { preset: "gatys", size: "48", iterations: "1", evalsPerIteration: "4" };
const TOKEN = "correct-horse-battery-staple-42";

let files: { name: string; bytes: Buffer }[];
before(async () => {
  files = [
    { name: "content", bytes: await gradientPng(64, 48) },
    { name: "style", bytes: await texturePng(48, 48) },
  ];
});

async function errorOf(response: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await response.json()) as { error?: { code: string; message: string } };
  assert.ok(body.error, `no error body: ${JSON.stringify(body)}`);
  return { status: response.status, code: body.error.code, message: body.error.message };
}

/** A request with a Host header of our choosing, which fetch() does not allow. */
function getWithHost(base: string, path: string, host: string, headers: Record<string, string> = {}): Promise<number> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, headers: { ...headers, host } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("jobs belong to the client that made them", { skip: HAVE_WEIGHTS ? false : NO_WEIGHTS_REASON }, () => {
  let server: Running;
  before(async () => {
    server = await startServer();
  });
  after(() => server.app.close());

  it("gives a new client an HttpOnly, SameSite=Strict credential on its first response, once", async () => {
    const first = await fetch(`${server.base}/api/config`);
    const cookies = first.headers.getSetCookie();
    assert.equal(cookies.length, 1, JSON.stringify(cookies));
    assert.match(cookies[0], /^pastiche_client=[A-Za-z0-9_-]{43}; /);
    assert.match(cookies[0], /; HttpOnly/i);
    assert.match(cookies[0], /; SameSite=Strict/i);
    const client = new Client(server.base);
    await client.fetch("/");
    const again = await client.fetch("/api/config");
    assert.deepEqual(again.headers.getSetCookie(), [], "a client with a credential keeps it");
    // A credential the server did not make is replaced.
    const forged = await fetch(`${server.base}/api/jobs`, { headers: { cookie: "pastiche_client=admin" } });
    assert.match(forged.headers.getSetCookie()[0] ?? "", /^pastiche_client=[A-Za-z0-9_-]{43}; /);
  });

  it("another client cannot list, read, follow, download, cancel or delete a job", async () => {
    const alice = new Client(server.base);
    const bob = new Client(server.base);
    await bob.fetch("/");
    const created = await postJob(alice, jobForm(files, TINY));
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const id: string = created.body.id;
    assert.match(id, /^[0-9a-f]{32}$/, "128 random bits");

    // While it runs, and once it is done.
    assert.equal((await bob.fetch(`/api/jobs/${id}`, { method: "DELETE" })).status, 404);
    const end = await readEvents(alice, `/api/jobs/${id}/events`, isEnd, 120_000);
    assert.equal(end.at(-1)!.event, "done", JSON.stringify(end.at(-1)!.data.error));

    assert.deepEqual((await json(bob.fetch("/api/jobs"))).jobs, []);
    for (const path of [`/api/jobs/${id}`, `/api/jobs/${id}/events`, `/api/jobs/${id}/result.png`, `/api/jobs/${id}/preview.png`]) {
      const e = await errorOf(await bob.fetch(path));
      assert.equal(e.status, 404, path);
      assert.equal(e.code, "NOT_FOUND", path);
    }
    assert.equal((await bob.fetch(`/api/jobs/${id}`, { method: "DELETE" })).status, 404);
    // Nor can a client without any credential.
    assert.equal((await fetch(`${server.base}/api/jobs/${id}/result.png`)).status, 404);

    const mine = (await json(alice.fetch("/api/jobs"))).jobs;
    assert.deepEqual(mine.map((j: { id: string }) => j.id), [id]);
    const png = await alice.fetch(`/api/jobs/${id}/result.png`);
    assert.equal(png.status, 200);
    assert.equal(png.headers.get("content-type"), "image/png");
    await png.arrayBuffer();
    assert.equal((await alice.fetch(`/api/jobs/${id}`, { method: "DELETE" })).status, 200);
  });

  it("job ids do not repeat", async () => {
    const client = new Client(server.base);
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const created = await postJob(client, jobForm(files, { ...TINY, evalsPerIteration: "1" }));
      assert.equal(created.status, 202, JSON.stringify(created.body));
      ids.add(created.body.id);
      await readEvents(client, `/api/jobs/${created.body.id}/events`, isEnd, 120_000);
    }
    assert.equal(ids.size, 3);
  });
});

describe("an access token and the Host allow-list", () => {
  it("a server other computers can reach refuses to start without a token", () => {
    for (const host of ["0.0.0.0", "::", "192.168.1.7"]) {
      assert.throws(
        () => buildServer({ host }),
        (e: unknown) => isPasticheError(e) && e.code === "BAD_OPTION" && /needs an access token/.test(e.message),
        host,
      );
    }
    assert.throws(() => buildServer({ host: "0.0.0.0", token: "short" }), /at least 16 characters/);
  });

  describe("with a token, as on a non-loopback bind (bound to loopback here)", () => {
    let server: Running;
    before(async () => {
      const app = buildServer({ host: "0.0.0.0", token: TOKEN, allowedHosts: ["pastiche.lan"] });
      await app.listen({ port: 0, host: "127.0.0.1" });
      const address = app.server.address();
      if (typeof address !== "object" || !address) throw new Error("no address");
      const base = `http://127.0.0.1:${address.port}`;
      server = { app, base, client: new Client(base) };
    });
    after(() => server.app.close());

    it("refuses every request without the token, with 401", async () => {
      for (const path of ["/", "/app.js", "/api/config", "/api/jobs"]) {
        const e = await errorOf(await fetch(`${server.base}${path}`));
        assert.equal(e.status, 401, path);
        assert.equal(e.code, "UNAUTHORIZED");
        assert.match(e.message, /\?token=/);
      }
      const wrong = await fetch(`${server.base}/api/config`, { headers: { authorization: "Bearer not-the-token-at-all" } });
      assert.equal(wrong.status, 401);
      assert.equal((await fetch(`${server.base}/?token=guess`)).status, 401);
    });

    it("the printed address logs a browser in: a cookie, then the clean page", async () => {
      const browser = new Client(server.base);
      const login = await browser.fetch(`/?token=${TOKEN}`);
      assert.equal(login.status, 303);
      assert.equal(login.headers.get("location"), "/");
      const cookie = login.headers.getSetCookie().find((c) => c.startsWith("pastiche_token="));
      assert.ok(cookie, JSON.stringify(login.headers.getSetCookie()));
      assert.match(cookie, /HttpOnly/i);
      assert.match(cookie, /SameSite=Strict/i);
      assert.equal((await browser.fetch("/")).status, 200);
      assert.equal((await browser.fetch("/api/jobs")).status, 200);
    });

    it("API clients give the token as a bearer header", async () => {
      const res = await fetch(`${server.base}/api/config`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.status, 200);
    });

    it("keeps the Host allow-list on a wildcard bind: names must be allowed, IP addresses pass", async () => {
      const auth = { authorization: `Bearer ${TOKEN}` };
      const { port } = new URL(server.base);
      assert.equal(await getWithHost(server.base, "/api/config", `rebound.example:${port}`, auth), 403);
      assert.equal(await getWithHost(server.base, "/api/config", `pastiche.lan:${port}`, auth), 200);
      assert.equal(await getWithHost(server.base, "/api/config", `192.168.1.7:${port}`, auth), 200);
      assert.equal(await getWithHost(server.base, "/api/config", `[fe80::1]:${port}`, auth), 200);
    });
  });
});

describe("slow and numerous connections", () => {
  /** Resolves when the server closes the socket, with what it sent. */
  const closed = (socket: Socket) =>
    new Promise<string>((resolve) => {
      let text = "";
      socket.on("data", (d) => (text += d.toString()));
      socket.on("close", () => resolve(text));
      socket.on("error", () => undefined);
    });

  it("cuts off a client that sends its upload too slowly, while another is served", async () => {
    const server = await startServer({ requestTimeoutMs: 1500 });
    try {
      const { port } = new URL(server.base);
      const slow = connect(Number(port), "127.0.0.1");
      const ended = closed(slow);
      const startedAt = Date.now();
      slow.write(
        `POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: multipart/form-data; boundary=x\r\n` +
          `Content-Length: 10000000\r\n\r\n--x\r\n`,
      );
      // One byte every 200 ms: the connection never goes idle, the upload never ends.
      const trickle = setInterval(() => slow.writable && slow.write("a"), 200);
      try {
        const other = await fetch(`${server.base}/api/config`);
        assert.equal(other.status, 200, "another client is served meanwhile");
        const answer = await Promise.race([ended, new Promise<string>((r) => setTimeout(() => r("still open"), 10_000))]);
        assert.notEqual(answer, "still open", "the slow upload was not cut off within 10 s");
        assert.ok(Date.now() - startedAt >= 1400, "cut off before its time");
        assert.match(answer, /^$|^HTTP\/1\.1 408/);
      } finally {
        clearInterval(trickle);
        slow.destroy();
      }
    } finally {
      await server.app.close();
    }
  });

  it("refuses connections beyond the cap, and serves again once they close", async () => {
    const server = await startServer({ maxConnections: 3 });
    try {
      const { port } = new URL(server.base);
      const open = await Promise.all(
        Array.from({ length: 3 }, () => new Promise<Socket>((resolve) => {
          const s = connect(Number(port), "127.0.0.1", () => resolve(s));
        })),
      );
      const extra = connect(Number(port), "127.0.0.1");
      const answer = await Promise.race([closed(extra), new Promise<string>((r) => setTimeout(() => r("still open"), 5_000))]);
      assert.equal(answer, "", "the connection over the cap is closed at once");
      for (const s of open) s.destroy();
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((await fetch(`${server.base}/api/config`)).status, 200);
    } finally {
      await server.app.close();
    }
  });
});

describe("malformed requests get the API's error body", () => {
  it("a 5000-character job id", async () => {
    const server = await startServer();
    try {
      const response = await fetch(`${server.base}/api/jobs/${"a".repeat(5000)}`);
      const e = await errorOf(response);
      assert.equal(e.status, 414);
      assert.equal(e.code, "BAD_REQUEST");
      assert.match(e.message, /too long/);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    } finally {
      await server.app.close();
    }
  });
});
