/** FDO protocol error codes (fdo.md §6); the same numbers in every implementation and on the wire. */
export const FDO_ERROR = {
  INVALID_JWT_TOKEN: 1,
  INVALID_OWNERSHIP_VOUCHER: 2,
  INVALID_OWNER_SIGN_BODY: 3,
  INVALID_IP_ADDRESS: 4,
  INVALID_GUID: 5,
  RESOURCE_NOT_FOUND: 6,
  MESSAGE_BODY_ERROR: 100,
  INVALID_MESSAGE_ERROR: 101,
  CRED_REUSE_ERROR: 102,
  INTERNAL_SERVER_ERROR: 500,
} as const;

/**
 * An FDO protocol failure. `code` goes on the wire in ErrorMessage (255); `message` is the detail for logs
 * only, because the spec forbids leaking verification details to the peer.
 */
export class FdoError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'FdoError';
  }
}
