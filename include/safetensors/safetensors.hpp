// Umbrella header of safetensors::core.
#pragma once

#include "safetensors/dtype.hpp"
#include "safetensors/error.hpp"
#include "safetensors/header.hpp"
#include "safetensors/reader.hpp"
#include "safetensors/sharded.hpp"
#include "safetensors/tensor.hpp"
#include "safetensors/values.hpp"
#include "safetensors/writer.hpp"
