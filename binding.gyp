{
  "targets": [
    {
      "target_name": "qbnative",
      "sources": ["native/qbnative.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "conditions": [["OS!='linux'", {"type": "none", "sources": []}]]
    }
  ]
}
