/**
 * HAProxy-style hysteresis: an up subject goes down after `fall` consecutive failed checks, a down one comes back
 * after `rise` consecutive good ones; a check that goes the other way resets the streak. Starts up.
 */
export class RiseFall {
  rise: number;
  fall: number;
  up = true;
  /** Consecutive checks against the current state (failures while up, successes while down). */
  streak = 0;

  constructor(rise: number, fall: number) {
    this.rise = Math.max(1, rise);
    this.fall = Math.max(1, fall);
  }

  /** Records one check; true when the state flipped. */
  record(ok: boolean): boolean {
    if (ok === this.up) {
      this.streak = 0;
      return false;
    }
    this.streak++;
    if (this.streak < (this.up ? this.fall : this.rise)) return false;
    this.up = ok;
    this.streak = 0;
    return true;
  }

  /** Forces the state (a subject that has no probe learns only from traffic). */
  set(up: boolean): boolean {
    const changed = up !== this.up;
    this.up = up;
    this.streak = 0;
    return changed;
  }
}
