import { parseCookie, stringifySetCookie } from "cookie";
import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "./ApiError.js";

const TOKEN_COOKIE = "pastiche_token";
const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1"]);

export interface AccessRules {
  /** The address the server binds. */
  host: string;
  /** Host names (besides loopback names and IP addresses) that clients may use to reach the server. */
  allowedHosts: readonly string[];
  /** When set, every request must prove it knows this token. */
  token?: string;
}

export function isLoopback(host: string): boolean {
  return LOOPBACK_NAMES.has(unbracket(host).toLowerCase());
}

/**
 * Every request passes here before anything else.
 *
 * Host: any web page the user visits can make their browser send requests here, and a hostile
 * name resolved to this server's address (DNS rebinding) makes them same-origin for the browser.
 * So the server answers only to names it knows: loopback names, IP addresses (a page served from
 * an IP address is this server itself), the bound name and `allowedHosts`.
 * Origin: changes from other sites' pages are refused.
 * Token: when set, it must come as `Authorization: Bearer`, as the token cookie, or as
 * `?token=` (which sets the cookie; on the page itself it then redirects to the clean URL).
 * Returns false when it has answered the request itself.
 */
export function checkAccess(request: FastifyRequest, reply: FastifyReply, rules: AccessRules): boolean {
  const host = request.headers.host ?? "";
  let hostname: string;
  try {
    hostname = unbracket(new URL(`http://${host}`).hostname);
  } catch {
    throw new ApiError(400, "BAD_REQUEST", "Malformed Host header");
  }
  const known =
    isLoopback(hostname) ||
    isIP(hostname) !== 0 ||
    hostname === unbracket(rules.host).toLowerCase() ||
    rules.allowedHosts.some((h) => h.toLowerCase() === hostname);
  if (!known) {
    throw new ApiError(
      403,
      "FORBIDDEN",
      `This server does not answer for the host "${hostname.slice(0, 64)}": its operator can allow it with --allowed-host`,
    );
  }
  const origin = request.headers.origin;
  if (request.method !== "GET" && request.method !== "HEAD" && origin !== undefined && origin !== `http://${host}`) {
    throw new ApiError(403, "FORBIDDEN", "Requests from other web sites are not accepted");
  }
  if (rules.token === undefined) return true;

  const url = new URL(request.url, "http://server");
  const query = url.searchParams.get("token");
  if (query !== null && sameSecret(query, rules.token)) {
    reply.header("Set-Cookie", stringifySetCookie({ name: TOKEN_COOKIE, value: rules.token, httpOnly: true, sameSite: "strict", path: "/" }));
    if (request.method === "GET" && url.pathname === "/") {
      // Keeps the token out of the address bar, the history and bookmarks.
      void reply.redirect("/", 303);
      return false;
    }
    return true;
  }
  const bearer = /^Bearer (.+)$/i.exec(request.headers.authorization ?? "")?.[1];
  const cookie = parseCookie(request.headers.cookie ?? "")[TOKEN_COOKIE];
  if ((bearer !== undefined && sameSecret(bearer, rules.token)) || (cookie !== undefined && sameSecret(cookie, rules.token))) {
    return true;
  }
  throw new ApiError(
    401,
    "UNAUTHORIZED",
    "This server needs its access token: open the address with ?token=... that `pastiche serve` printed, " +
      "or send the header Authorization: Bearer TOKEN",
  );
}

/** Compares digests, so that the time taken tells nothing about the token. */
function sameSecret(given: string, token: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(given), digest(token));
}

/** URL spells IPv6 hosts in brackets. */
function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}
