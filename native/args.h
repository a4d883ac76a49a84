// Reads the arguments of one exported call by their protocol.h slots, checking type and range. The first bad slot
// throws a TypeError naming the call and the slot ("start: clientFd: expected an integer in [0, 2147483647], got a
// string"); later reads return neutral values, so a call reads all its slots, then checks ok() once before acting.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "protocol.h"

namespace tidegate {

// A Buffer argument's bytes (borrowed for the call); data is nullptr for null/undefined.
struct Bytes {
  const char* data = nullptr;
  size_t length = 0;
};

// A client socket's TCP options: TCP_NODELAY, and keep-alive in whole seconds (0 = off).
struct Tuning {
  bool noDelay = false;
  int keepAliveSec = 0;
};

class Args {
 public:
  template <size_t N>
  Args(const Napi::CallbackInfo& info, const char* call, const char* const (&names)[N])
      : info_(info), call_(call), names_(names), count_(N) {}

  bool ok() const { return ok_; }

  // An integral number in [min, max].
  int64_t Integer(int slot, int64_t min, int64_t max) {
    Napi::Value v = At(slot);
    double d = NumberOf(v);
    if (std::floor(d) == d && d >= static_cast<double>(min) && d <= static_cast<double>(max)) {
      return static_cast<int64_t>(d);
    }
    Fail(slot, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]", v);
    return min;
  }

  // The slot kinds the protocol's calls share, each with its protocol.h range.
  // One of `count` codes of a protocol.h table (a close reason, a settle how, a direction).
  int Code(int slot, int count) { return static_cast<int>(Integer(slot, 0, count - 1)); }
  // A relay's (or listener's) id.
  uint64_t RelayId(int slot) { return static_cast<uint64_t>(Integer(slot, 1, kMaxRelayId)); }
  // A file descriptor of the caller's.
  int Fd(int slot) { return static_cast<int>(Integer(slot, 0, kMaxFd)); }
  // A timeout in ms (0 = none).
  int64_t Millis(int slot) { return Integer(slot, 0, kMaxTimeoutMs); }
  // A rate-limit or byte-budget handle (0 = none where a relay takes one).
  uint32_t Handle(int slot) { return static_cast<uint32_t>(Integer(slot, 0, kMaxHandleId)); }

  // A noDelay slot and a keepAliveMs slot (0 = off); keep-alive rounds down to seconds, at least 1 when on.
  Tuning ClientTuning(int noDelaySlot, int keepAliveMsSlot) {
    Tuning t;
    t.noDelay = Bool(noDelaySlot);
    int64_t ms = Millis(keepAliveMsSlot);
    t.keepAliveSec = ms <= 0 ? 0 : static_cast<int>(ms < 1000 ? 1 : ms / 1000);
    return t;
  }

  // Any number but NaN.
  double Number(int slot) {
    Napi::Value v = At(slot);
    double d = NumberOf(v);
    if (!std::isnan(d)) return d;
    Fail(slot, "a number", v);
    return 0;
  }

  // A number >= 0 (Infinity included).
  double NonNegative(int slot) {
    Napi::Value v = At(slot);
    double d = NumberOf(v);
    if (d >= 0) return d;
    Fail(slot, "a number >= 0", v);
    return 0;
  }

  bool Bool(int slot) {
    Napi::Value v = At(slot);
    bool b = false;
    if (napi_get_value_bool(info_.Env(), v, &b) == napi_ok) return b;  // one call: it checks the type itself
    Fail(slot, "a boolean", v);
    return false;
  }

  std::string String(int slot) {
    Napi::Value v = At(slot);
    if (v.IsString()) return v.As<Napi::String>().Utf8Value();
    Fail(slot, "a string", v);
    return std::string();
  }

  // A Buffer, required.
  Bytes Buffer(int slot) {
    Napi::Value v = At(slot);
    if (v.IsBuffer()) return BytesOf(v);
    Fail(slot, "a Buffer", v);
    return Bytes{};
  }

  // A Buffer, or null/undefined for none.
  Bytes OptionalBuffer(int slot) {
    Napi::Value v = At(slot);
    if (v.IsBuffer()) return BytesOf(v);
    if (!v.IsNull() && !v.IsUndefined()) Fail(slot, "a Buffer or null", v);
    return Bytes{};
  }

 private:
  Napi::Value At(int slot) const {
    return static_cast<size_t>(slot) < info_.Length() ? info_[static_cast<size_t>(slot)] : info_.Env().Undefined();
  }

  // The value as a double, NaN when it is not a number: one Node-API call, which checks the type itself.
  double NumberOf(const Napi::Value& v) const {
    double d;
    return napi_get_value_double(info_.Env(), v, &d) == napi_ok ? d : NAN;
  }

  static Bytes BytesOf(const Napi::Value& v) {
    Napi::Buffer<char> b = v.As<Napi::Buffer<char>>();
    return Bytes{b.Data(), b.Length()};
  }

  static std::string Describe(const Napi::Value& v) {
    switch (v.Type()) {
      case napi_undefined: return "undefined";
      case napi_null: return "null";
      case napi_boolean: return "a boolean";
      case napi_number: {
        char text[32];
        std::snprintf(text, sizeof(text), "%.17g", v.As<Napi::Number>().DoubleValue());
        return text;
      }
      case napi_string: return "a string";
      case napi_function: return "a function";
      default: return v.IsBuffer() ? "a Buffer" : "an object";
    }
  }

  void Fail(int slot, const std::string& expected, const Napi::Value& got) {
    if (!ok_) return;  // one error per call: the first bad slot
    ok_ = false;
    const char* name = static_cast<size_t>(slot) < count_ ? names_[slot] : "?";
    Napi::TypeError::New(info_.Env(), std::string(call_) + ": " + name + ": expected " + expected + ", got " +
                                          Describe(got))
        .ThrowAsJavaScriptException();
  }

  const Napi::CallbackInfo& info_;
  const char* call_;
  const char* const* names_;
  size_t count_;
  bool ok_ = true;
};

}  // namespace tidegate
