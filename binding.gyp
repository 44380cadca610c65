{
  "targets": [
    {
      "target_name": "qbnative",
      "sources": ["native/qbnative.c", "native/v8mem.cc"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "cflags_c": ["-std=gnu11"],
      "conditions": [["OS!='linux'", {"type": "none", "sources": []}]]
    }
  ]
}
