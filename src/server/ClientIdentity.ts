import { parseCookie, stringifySetCookie } from "cookie";
import { randomBytes } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";

const COOKIE = "pastiche_client";
/** 256 random bits, base64url: what the server hands out, and so all it accepts. */
const CREDENTIAL = /^[A-Za-z0-9_-]{43}$/;

/**
 * Who a request comes from: the credential in its client cookie. A client without one (or with one
 * the server did not make) gets a new one on this response, and keeps it as browsers do
 * (`curl -c jar -b jar`). HttpOnly keeps page scripts from reading it; SameSite=Strict keeps other
 * sites' pages from sending it.
 */
export function identifyClient(request: FastifyRequest, reply: FastifyReply): string {
  const sent = parseCookie(request.headers.cookie ?? "")[COOKIE];
  if (sent !== undefined && CREDENTIAL.test(sent)) return sent;
  const credential = randomBytes(32).toString("base64url");
  reply.header("Set-Cookie", stringifySetCookie({ name: COOKIE, value: credential, httpOnly: true, sameSite: "strict", path: "/" }));
  return credential;
}
