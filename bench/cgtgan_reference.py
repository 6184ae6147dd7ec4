"""The official CgT-GAN training step in PyTorch, for ``cgtgan_step.py`` (see its docstring
for how it follows the released code)."""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cgtgan_setup import (END_OF_TEXT_ID, MAX_GEN_LENGTH, NUM_SAMPLES,  # noqa: E402
                          REFERENCES, STOP_TOKEN_ID, recipe)

def official_generate(model, img_feats, max_length, do_sample, num_return_sequences,
                      eos_token_id, pad_token_id):
    """``ClipCaptionModel.generate_cap`` + ``generate`` of the released ``models.py``
    (temperature 1, top_k 0, top_p 1 and repetition penalty 1, the training defaults, make
    its filtering and penalty no-ops, so they are left out): project the prefix, expand it
    ``num_return_sequences`` times (row ``b * R + r``), then one token per step with
    GPT-2's key/value cache, until every row has emitted ``eos_token_id`` or
    ``max_length`` tokens. Returns ``(token_ids [N, 1, T], logprobs [N, 1])``, the
    log-probabilities averaged over each row's unfinished steps (its eos included); they
    carry gradient when autograd is on.

    Unlike the release, ``cur_unfinished`` multiplies the ids as a long tensor (the
    release keeps float ids, which its slow tokenizer's dict lookup tolerates)."""
    import torch
    import torch.nn.functional as F

    batch_size = img_feats.shape[0]
    input_embeds = model.clip_project(img_feats).view(-1, model.prefix_length,
                                                      model.gpt_embedding_size)
    if num_return_sequences != 1:
        shape = list(input_embeds.shape)
        input_embeds = input_embeds.unsqueeze(1).expand(
            shape[:1] + [num_return_sequences] + shape[1:]).contiguous().view(
            [shape[0] * num_return_sequences] + shape[1:])
        batch_size = batch_size * num_return_sequences
    cur_len = 0
    unfinished_sents = []
    cur_unfinished = torch.ones(batch_size, dtype=torch.long, device=input_embeds.device)
    logprobs = []
    past = None
    token_ids = None
    next_token = None
    while cur_len < max_length:
        if past is not None:
            outputs = model.gpt(input_ids=next_token.unsqueeze(-1), past_key_values=past)
        else:
            outputs = model.gpt(inputs_embeds=input_embeds, past_key_values=past)
        next_token_logits = outputs.logits[:, -1, :]
        past = outputs.past_key_values
        if do_sample:
            next_token = torch.multinomial(F.softmax(next_token_logits, dim=-1),
                                           num_samples=1).squeeze(1)
        else:
            next_token = torch.argmax(next_token_logits, dim=-1)
        _scores = F.log_softmax(next_token_logits, dim=-1)
        _scores = torch.gather(_scores, -1, next_token.unsqueeze(-1))
        logprobs.append(_scores)
        unfinished_sents.append(cur_unfinished)
        tokens_to_add = next_token * cur_unfinished + pad_token_id * (1 - cur_unfinished)
        if token_ids is None:
            token_ids = tokens_to_add.unsqueeze(-1)
        else:
            token_ids = torch.cat([token_ids, tokens_to_add.unsqueeze(-1)], dim=-1)
        cur_unfinished = cur_unfinished.mul(next_token.ne(eos_token_id).long())
        cur_len = cur_len + 1
        if cur_unfinished.max() == 0:
            break
    if cur_len == max_length:
        token_ids[:, -1].masked_fill_(cur_unfinished.to(dtype=torch.bool), eos_token_id)
    logprobs = torch.cat(logprobs, dim=1)
    unfinished_sents = torch.stack(unfinished_sents, dim=1).float()
    sum_logprobs = (logprobs * unfinished_sents).sum(dim=1)
    logprobs = sum_logprobs / unfinished_sents.sum(dim=1)
    pad_len = max_length - token_ids.shape[1]
    if pad_len > 0:
        token_ids = torch.cat([token_ids, token_ids.new(batch_size, pad_len).fill_(
            pad_token_id)], dim=1)
    return token_ids.unsqueeze(1), logprobs.unsqueeze(1)


class Reference:
    """The official CgT-GAN training step in PyTorch (see the module docstring); with
    ``variant="teacher_forced"``, Hugging Face ``generate`` + a teacher-forced pass."""

    def __init__(self, ctx, parts, variant="official"):
        import torch
        import transformers
        from torch import nn

        if variant not in REFERENCES:
            raise ValueError(f"reference {variant!r} is not one of {REFERENCES}")
        _, train = recipe()
        self.torch = torch
        self.ctx = ctx
        self.device = ctx.torch_device
        self.variant = variant
        self.generator = parts.torch_generator.to(self.device)
        self.clip_model = parts.torch_clip.to(self.device)
        self.text_encoder = parts.torch_roberta.to(self.device)
        self.mlp = parts.torch_head.to(self.device)
        self.discriminator = nn.ModuleDict({"text_encoder": self.text_encoder,
                                            "mlp": self.mlp})
        self.criterion = nn.BCEWithLogitsLoss()
        self.gpt2_tokenizer = transformers.GPT2Tokenizer.from_pretrained(parts.gpt2_dir)
        self.roberta_tokenizer = transformers.RobertaTokenizer.from_pretrained(
            parts.roberta_tok_dir)
        self.clip_tokenizer = transformers.CLIPTokenizer.from_pretrained(parts.clip_tok_dir)
        self.max_length = MAX_GEN_LENGTH + 2  # RobertaDiscriminator: <s> and </s>
        self.cos_weight = 0.5
        self.clip_weight = 0.0
        self.reward_weight, self.gan_training_steps = train["reward_weight"], train[
            "gan_training_steps"]
        self.gan_warm_steps = train["gan_warm_steps"]
        self.max_grad_norm = train["clipnorm"]  # args.max_grad_norm
        self.optimizer_G = self._adamw(self.generator, train, "g_")
        self.optimizer_D = self._adamw(self.discriminator, train, "d_")
        self.image_feats = torch.from_numpy(parts.prefix).to(self.device)
        self.text_feats = torch.from_numpy(parts.target).to(self.device)
        # TextFeatures: the corpus tokenized once, padded with 1
        self.real_tokens, self.real_masks = self.pad_and_token(parts.sentences)
        self.global_step = 0
        self.first_losses = None

    def _adamw(self, module, train, prefix):
        """The release's AdamW: weight decay except on ``bias`` and ``LayerNorm.weight``
        (so GPT-2's ``ln_*`` scales are decayed), the recipe's rate, decay and epsilon."""

        def get(key):
            return train.get(prefix + key, train.get(key))

        no_decay = ["bias", "LayerNorm.weight"]
        groups = [
            {"params": [p for n, p in module.named_parameters()
                        if not any(nd in n for nd in no_decay)],
             "weight_decay": get("weight_decay")},
            {"params": [p for n, p in module.named_parameters()
                        if any(nd in n for nd in no_decay)], "weight_decay": 0.0}]
        return self.torch.optim.AdamW(groups, lr=get("learning_rate"), eps=get("adam_epsilon"))

    # RobertaDiscriminator ---------------------------------------------------------------
    def pad_and_token(self, gen_res):
        torch = self.torch
        ress, masks = [], []
        for s in gen_res:
            tokens = torch.tensor(self.roberta_tokenizer.encode(s), dtype=torch.int64)
            if tokens.shape[0] > self.max_length:
                # as released: encode('.') adds <s> ... </s>, so this writes <s> (id 0)
                tokens[self.max_length - 2] = self.roberta_tokenizer.encode(".")[0]
                tokens[self.max_length - 1] = tokens[-1]
            padding = self.max_length - len(tokens)
            if padding > 0:
                tokens = torch.cat((tokens, torch.ones(padding, dtype=torch.int64)))
            elif padding < 0:
                tokens = tokens[:self.max_length]
            mask = ~tokens.eq(1)
            tokens[~mask] = 1
            masks.append(mask.float())
            ress.append(tokens)
        return (torch.stack(ress, dim=0).to(self.device),
                torch.stack(masks, dim=0).to(self.device))

    def d_forward(self, tokens, mask, training=False, labels=None):
        torch = self.torch
        if training:
            self.discriminator.train()
            pooler_out = self.text_encoder(input_ids=tokens, attention_mask=mask)[1]
            logits = self.mlp(pooler_out)
            return self.criterion(logits.squeeze(), labels.to(self.device))
        with torch.no_grad():
            self.discriminator.eval()
            pooler_out = self.text_encoder(input_ids=tokens, attention_mask=mask)[1]
            logits = self.mlp(pooler_out)
            self.discriminator.train()
            return logits

    def pg_loss(self, greedy_res, sample_res, sample_logprobs):
        """``RobertaDiscriminator.PG_loss`` with the greedy baseline."""
        batch_size = len(greedy_res)
        sample_res_size = len(sample_res)
        seq_per_img = sample_res_size // batch_size
        gen_res = list(sample_res) + list(greedy_res)
        ress, masks = self.pad_and_token(gen_res)
        scores = self.d_forward(ress, masks).squeeze()
        baseline = scores[-batch_size:][:, np.newaxis]
        reward = scores[:sample_res_size].reshape(batch_size, seq_per_img)
        self._critic_score = reward.mean()
        reward = (reward - baseline).reshape(sample_res_size)
        reward = self.torch.as_tensor(reward, device=sample_logprobs.device,
                                      dtype=self.torch.float)
        return (-sample_logprobs * reward).mean()

    # ScstRewardCLIPCriterion / ClipDiscriminator ----------------------------------------
    @staticmethod
    def _wrap_sentence(s):
        r = s.strip()
        if r.endswith("."):
            r = r[:-1]
        return r

    def clip_scores(self, text, image_features, gt_features, bs):
        """``ClipDiscriminator.forward``: ``score`` of every caption."""
        torch = self.torch
        with torch.no_grad():
            ids = self.clip_tokenizer(text, padding="max_length", max_length=77,
                                      truncation=True, return_tensors="pt")["input_ids"]
            ids = ids.to(self.device)
            text_features = self.clip_model.get_text_features(input_ids=ids).pooler_output
            image_features = torch.vstack(image_features)
            gt_features = torch.vstack(gt_features)
            logit_scale = self.clip_model.logit_scale.exp()
            loss = torch.abs(gt_features - text_features).mean(axis=1)
            l1_score = logit_scale * (1 - loss)
            self.l1_score = l1_score[:-bs].mean().item()
            gt_features = gt_features / gt_features.norm(dim=1, keepdim=True)
            text_features = text_features / text_features.norm(dim=1, keepdim=True)
            logits_per_image = logit_scale * gt_features @ text_features.t().type_as(
                gt_features)
            diag_ind = np.arange(gt_features.shape[0])
            cos_score = logits_per_image[diag_ind, diag_ind]
            self.cos_score = cos_score[:-bs].mean().item()
            image_features = image_features / image_features.norm(dim=1, keepdim=True)
            clip_logits = logit_scale * image_features @ text_features.t().type_as(
                image_features)
            clip_score = clip_logits[diag_ind, diag_ind]
            self.clip_score = clip_score[:-bs].mean().item()
            sim_score = self.cos_weight * cos_score + (1 - self.cos_weight) * l1_score
            return (1 - self.clip_weight) * sim_score + self.clip_weight * clip_score

    def reward_loss(self, img_feats, gt_text, greedy_res, sample_res, sample_logprobs):
        """``ScstRewardCLIPCriterion.forward`` with the greedy baseline."""
        batch_size = len(img_feats)
        sample_res_size = len(sample_res)
        seq_per_img = sample_res_size // batch_size
        gen_res = list(sample_res) + list(greedy_res)
        gt_idx = [i // seq_per_img for i in range(sample_res_size)] + list(range(batch_size))
        res = [self._wrap_sentence(s) for s in gen_res]
        image_features = [img_feats[i] for i in gt_idx]
        text_features = [gt_text[i] for i in gt_idx]
        scores = self.clip_scores(res, image_features, text_features, batch_size)
        baseline = scores[-batch_size:][:, np.newaxis]
        reward = scores[:sample_res_size].reshape(batch_size, seq_per_img)
        reward = (reward - baseline).reshape(sample_res_size)
        reward = self.torch.as_tensor(reward, device=sample_logprobs.device,
                                      dtype=self.torch.float)
        return (-sample_logprobs * reward).mean()

    # generation -----------------------------------------------------------------------
    def _captions(self, all_ids):
        return [self.gpt2_tokenizer.decode(ids.tolist(), skip_special_tokens=True)
                for ids in all_ids.cpu()]

    def greedy_ids(self):
        """Official greedy ids ``[B, T]`` (``eval``, ``no_grad``), before any update."""
        model = self.generator
        model.eval()
        with self.torch.no_grad(), self.ctx.autocast():
            ids, _ = official_generate(model, self.image_feats, MAX_GEN_LENGTH, False, 1,
                                       STOP_TOKEN_ID, END_OF_TEXT_ID)
        return ids[:, 0].cpu().numpy()

    def generate_with_baseline(self):
        """``cgtgan.py`` ``generate_with_baseline``: greedy in ``eval`` under ``no_grad``,
        then the samples in ``train`` mode with autograd on."""
        torch = self.torch
        model = self.generator
        model.eval()
        with torch.no_grad():
            greedy_raw, _ = official_generate(model, self.image_feats, MAX_GEN_LENGTH, False,
                                              1, STOP_TOKEN_ID, END_OF_TEXT_ID)
            greedy_raw.squeeze_(1)
        greedy_res = self._captions(greedy_raw)
        model.train()
        sample_raw, sample_logprobs = official_generate(
            model, self.image_feats, MAX_GEN_LENGTH, True, NUM_SAMPLES, STOP_TOKEN_ID,
            END_OF_TEXT_ID)
        sample_raw.squeeze_(1)
        sample_logprobs = sample_logprobs.squeeze(1)
        return greedy_res, self._captions(sample_raw), sample_logprobs

    def generate_teacher_forced(self):
        """Hugging Face ``generate`` (cache, no gradient, ``eval``) for the greedy captions
        and the samples, then the samples' length-normalised log-probabilities (stop token
        included) from one teacher-forced pass with gradient in ``eval`` mode."""
        torch = self.torch
        model = self.generator
        model.eval()
        common = dict(max_new_tokens=MAX_GEN_LENGTH, eos_token_id=STOP_TOKEN_ID,
                      pad_token_id=END_OF_TEXT_ID, use_cache=True)
        with torch.no_grad():
            embeds = model.prefix_embeddings(self.image_feats)
            mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=self.device)
            greedy = model.gpt.generate(inputs_embeds=embeds, attention_mask=mask,
                                        do_sample=False, num_beams=1, **common)
            sampled = model.gpt.generate(inputs_embeds=embeds, attention_mask=mask,
                                         do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                                         num_return_sequences=NUM_SAMPLES, **common)
        sampled = torch.nn.functional.pad(sampled, (0, MAX_GEN_LENGTH - sampled.shape[1]),
                                          value=END_OF_TEXT_ID)
        # real tokens: up to and including the first stop token (generate pads after it)
        is_stop = sampled.eq(STOP_TOKEN_ID).long()
        token_mask = (torch.cumsum(is_stop, dim=1) - is_stop) == 0
        prefix = self.image_feats.repeat_interleave(NUM_SAMPLES, dim=0)
        full_mask = torch.cat([torch.ones(prefix.shape[0], model.prefix_length,
                                          device=self.device), token_mask.float()], dim=1)
        logits = model(sampled, prefix, full_mask)[:, model.prefix_length - 1:-1]
        chosen = torch.gather(torch.log_softmax(logits, dim=-1), -1,
                              sampled.unsqueeze(-1)).squeeze(-1)
        weights = token_mask.float()
        logprobs = (chosen.float() * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return self._captions(greedy), self._captions(sampled), logprobs

    # the step ---------------------------------------------------------------------------
    def step(self):
        """``cgtgan.py`` ``train``, one iteration (gradient accumulation 1)."""
        torch = self.torch
        with self.ctx.autocast():  # the forward passes (bfloat16 on GPU, nothing on CPU)
            if self.variant == "official":
                greedy_res, sample_res, sample_logprobs = self.generate_with_baseline()
            else:
                greedy_res, sample_res, sample_logprobs = self.generate_teacher_forced()
            sample_res_token, sample_res_mask = self.pad_and_token(sample_res)
            real_labels = torch.ones(self.real_tokens.shape[0])
            fake_labels = torch.zeros(sample_res_token.shape[0])
            d_loss = self.d_forward(torch.cat((self.real_tokens, sample_res_token.detach())),
                                    torch.cat((self.real_masks, sample_res_mask.detach())),
                                    training=True,
                                    labels=torch.cat((real_labels, fake_labels)))
            reward_loss = self.reward_loss(self.image_feats, self.text_feats, greedy_res,
                                           sample_res, sample_logprobs)
            fd_loss = self.pg_loss(greedy_res, sample_res, sample_logprobs)
        self._critic_score.item()  # get_critic_score(), logged by the release

        d_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.discriminator.parameters(), self.max_grad_norm)
        self.global_step += 1
        self.optimizer_D.step()
        self.discriminator.zero_grad()

        if self.global_step > self.gan_training_steps:
            rw = min((self.global_step - self.gan_training_steps) / self.gan_warm_steps,
                     1.0) * self.reward_weight
        else:
            rw = 0.0
        g_loss = rw * reward_loss + (1.0 - rw) * fd_loss
        g_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.generator.parameters(), self.max_grad_norm)
        self.optimizer_G.step()
        self.generator.zero_grad()
        losses = {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
                  "reward_loss": reward_loss.item(), "fd_loss": fd_loss.item()}
        if self.first_losses is None:
            self.first_losses = losses
        return losses

    # checks -----------------------------------------------------------------------------
    def real_logits(self):
        with self.ctx.autocast():
            logits = self.d_forward(self.real_tokens, self.real_masks)
        return logits.squeeze(-1).float().cpu().numpy()

    def score(self, token_ids):
        """(texts, CLIP-agg rewards, discriminator logits) of ``[B, T]`` official-format
        captions of the batch's images (eval mode, no gradient)."""
        texts = self._captions(self.torch.from_numpy(token_ids))
        res = [self._wrap_sentence(s) for s in texts]
        n = len(res)
        with self.ctx.autocast():
            scores = self.clip_scores(res + res, list(self.image_feats) * 2,
                                      list(self.text_feats) * 2, n)[:n]
            ress, masks = self.pad_and_token(texts)
            logits = self.d_forward(ress, masks).squeeze(-1)
        return texts, scores.float().cpu().numpy(), logits.float().cpu().numpy()


