{
  "targets": [
    {
      "target_name": "tidegate_relay",
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "native/addon.cc",
            "native/byte_budget.cc",
            "native/event_loop.cc",
            "native/listen_socket.cc",
            "native/pipe_pool.cc",
            "native/rate_limit.cc"
          ],
          "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
          "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
          "cflags_cc": ["-std=c++17", "-O2", "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
          "cflags_cc!": ["-std=gnu++17"],
          "ldflags": ["-pthread"],
          "configurations": {
            "Debug": {"defines": ["TG_DEBUG"]}
          }
        }, {
          "type": "none"
        }]
      ]
    }
  ]
}
