import { createSecureContext, type SecureContext } from 'node:tls';

const acmeTlsProtocol = 'acme-tls/1';

type AlpnChoice = { servername?: string; protocols: readonly string[] };

// The challenges currently offered to the CA: HTTP-01 key authorizations by
// token and host, TLS-ALPN-01 certificates by name (RFC 8737). Entries live
// only while a validation is under way.
export class ChallengeResponder {
  readonly #http = new Map<string, { host: string; keyAuthorization: string }>();
  readonly #alpn = new Map<string, SecureContext>();
  #acmeTlsName: string | undefined;

  addHttp(token: string, host: string, keyAuthorization: string): void {
    this.#http.set(token, { host: host.toLowerCase(), keyAuthorization });
  }

  removeHttp(token: string): void {
    this.#http.delete(token);
  }

  /** The key authorization for a token, only for the host it was issued for. */
  httpAnswer(token: string, host: string | undefined): string | undefined {
    const entry = this.#http.get(token);
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
