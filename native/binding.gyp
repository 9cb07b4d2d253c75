{
  "targets": [
    {
      "target_name": "am_distill_native",
      "sources": ["engine.cc"],
      "cflags_cc": ["-O3", "-fno-math-errno", "-std=c++17", "-fvisibility=hidden"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["-ldl"],
      "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-fno-math-errno", "-std=c++17"] }
    }
  ]
}
