import { createSecureContext, type SecureContext } from 'node:tls';

const acmeTlsProtocol = 'acme-tls/1';

type AlpnChoice = { servername?: string; protocols: readonly string[] };

type HttpEntry = { host: string; keyAuthorization: string };

/** Where several instances publish HTTP-01 answers (Redis), so any of them answers. */
export type SharedTokens = {
  putToken(token: string, entry: HttpEntry): Promise<void>;
  getToken(token: string): Promise<HttpEntry | undefined>;
  deleteToken(token: string): Promise<void>;
};

// The challenges currently offered to the CA: HTTP-01 key authorizations by
// token and host, TLS-ALPN-01 certificates by name (RFC 8737). Entries live
// only while a validation is under way. With a shared store, HTTP-01 answers
// are published there too: the CA's request may reach another instance.
export class ChallengeResponder {
  readonly #http = new Map<string, HttpEntry>();
  readonly #alpn = new Map<string, SecureContext>();
  readonly #shared: SharedTokens | undefined;
  #acmeTlsName: string | undefined;

  constructor(shared?: SharedTokens) {
    this.#shared = shared;
  }

  /** Answers false when the shared store did not take the token (this instance still answers). */
  async addHttp(token: string, host: string, keyAuthorization: string): Promise<boolean> {
    const entry = { host: host.toLowerCase(), keyAuthorization };
    this.#http.set(token, entry);
    if (!this.#shared) return true;
    return this.#shared.putToken(token, entry).then(
      () => true,
      () => false,
    );
  }

  removeHttp(token: string): void {
    this.#http.delete(token);
    this.#shared?.deleteToken(token).catch(() => undefined);
  }

  /** The key authorization for a token, only for the host it was issued for. */
  httpAnswer(token: string, host: string | undefined): string | undefined {
    const entry = this.#http.get(token);
    return entry && entry.host === host ? entry.keyAuthorization : undefined;
  }

  /** Like httpAnswer, then the shared store for tokens another instance published. */
  async httpAnswerAnywhere(token: string, host: string | undefined): Promise<string | undefined> {
    const local = this.httpAnswer(token, host);
    if (local !== undefined || !this.#shared) return local;
    const entry = await this.#shared.getToken(token).catch(() => undefined);
    return entry && entry.host === host ? entry.keyAuthorization : undefined;
  }

  addAlpn(name: string, cert: string | Buffer, key: string | Buffer): void {
    this.#alpn.set(name.toLowerCase(), createSecureContext({ cert, key }));
  }

  removeAlpn(name: string): void {
    this.#alpn.delete(name.toLowerCase());
  }

  get pending(): number {
    return this.#http.size + this.#alpn.size;
  }

  // ALPN is chosen before the certificate (Node calls ALPNCallback, then
  // SNICallback, for the same ClientHello). A validation handshake names
  // acme-tls/1 and only that; everyone else gets http/1.1.
  selectProtocol({ servername, protocols }: AlpnChoice): string | undefined {
    this.#acmeTlsName = undefined;
    if (protocols.includes(acmeTlsProtocol)) {
      // RFC 8737 section 3: a validation handshake always names the host.
      const name = servername?.toLowerCase();
      if (!name || !this.#alpn.has(name)) return undefined;
      this.#acmeTlsName = name;
      return acmeTlsProtocol;
    }
    return protocols.includes('http/1.1') ? 'http/1.1' : undefined;
  }

  /** The validation certificate, when the handshake under way chose acme-tls/1. */
  contextForHandshake(servername: string): SecureContext | undefined {
    const name = this.#acmeTlsName;
    this.#acmeTlsName = undefined;
    if (name === undefined || name !== servername.toLowerCase()) return undefined;
    return this.#alpn.get(name);
  }
}
