# ASan + UBSan for every target when SAFETENSORS_SANITIZE is on (preset "asan").
if(SAFETENSORS_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
