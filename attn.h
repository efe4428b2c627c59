// The umbrella header: everything a user of attn needs.
//
//   #include <attn/attn.h>
//   auto x = attn::randn({2, 3}).requires_grad_();
//   auto loss = (x * x).sum();
//   loss.backward();
//   std::cout << x.grad() << "\n";   // 2x
#pragma once

#define ATTN_VERSION "0.1.0"

#include "kernels/cuda/runtime.h"
#include "kernels/dtype.h"
#include "kernels/error.h"
#include "kernels/generator.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"
#include "tensor/safetensors.h"
#include "tensor/shape.h"
#include "tensor/tensor.h"
#include "autograd/gradcheck.h"
#include "autograd/graph_dump.h"
#include "autograd/autocast.h"
#include "autograd/node.h"
#include "autograd/ops.h"

#include "nn/additive_attention.h"
#include "nn/gru.h"
#include "nn/layers.h"
#include "nn/lstm.h"
#include "nn/module.h"
#include "nn/luong.h"
#include "nn/luong_attention.h"
#include "nn/multihead_attention.h"
#include "nn/positional_encoding.h"
#include "nn/rnnsearch.h"
#include "nn/scaled_dot_product_attention.h"
#include "nn/transformer.h"
#include "nn/transformer_layers.h"
#include "nn/translator.h"

#include "data/batch.h"
#include "data/corpus.h"
#include "data/tasks.h"
#include "data/tokenizer.h"
#include "data/vocab.h"

#include "train/checkpoint.h"
#include "train/decode/decode.h"
#include "train/metrics/metrics.h"
#include "train/optim/clip.h"
#include "train/optim/optimizer.h"
#include "train/optim/schedule.h"
#include "train/train_step.h"
#include "train/trainer.h"
