/** A relay accounting is metering; opaque to services. */
export interface RelayMeter {
  /** Set when accounting closed the relay (quota); the relay's record carries it as its reason. */
  readonly cutReason: string | null;
}
