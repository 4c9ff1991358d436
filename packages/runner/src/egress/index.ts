export { checkAddress, type AddressVerdict, type AddressPolicy } from "./address.js";
export { hostAllowed, hostMatchesPattern, parseHostPattern } from "./hosts.js";
export {
  DEFAULT_EGRESS,
  egressFetch,
  forbiddenRequestHeader,
  type EgressLookup,
  type EgressOptions,
  type EgressRequest,
  type EgressResponse,
} from "./fetch.js";
